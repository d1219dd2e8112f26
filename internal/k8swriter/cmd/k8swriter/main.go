// Command k8swriter runs the API-server stand-in of internal/k8swriter as a
// process, or controls or checks one:
//
//	k8swriter run --endpoints http://127.0.0.1:2379 --backend etcd2 --rate 20 \
//	    --event-ttl 1h --log writes.jsonl --control /tmp/w.sock [--running]
//	k8swriter ctl --control /tmp/w.sock stop|start|status|backend etcd3
//	k8swriter check --endpoints http://127.0.0.1:2379 --log writes.jsonl [--v2]
//
// check exits 0 when every acknowledged write is present or expired, 100
// when some are lost, 1 on an error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	client "go.etcd.io/etcd/client/v2"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdaudit/etcdaudit/internal/k8swriter"
	"github.com/etcdaudit/etcdaudit/remediate/v2data"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: k8swriter run|ctl|check [flags]")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	code := 1
	switch os.Args[1] {
	case "run":
		err = run(ctx, os.Args[2:])
	case "ctl":
		err = ctl(ctx, os.Args[2:])
	case "check":
		code, err = check(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want run, ctl or check", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8swriter:", err)
		os.Exit(code)
	}
}

func clients(endpoints string, v2 bool) (client.KeysAPI, *clientv3.Client, error) {
	eps := strings.Split(endpoints, ",")
	var kapi client.KeysAPI
	if v2 {
		var err error
		if kapi, err = v2data.NewKeysAPI(eps, nil, 5*time.Second); err != nil {
			return nil, nil, err
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, nil, fmt.Errorf("v3 client for %s: %w", endpoints, err)
	}
	return kapi, cli, nil
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	endpoints := fs.String("endpoints", "http://127.0.0.1:2379", "etcd client URLs, comma-separated")
	backend := fs.String("backend", "etcd2", "storage backend to start with: etcd2 or etcd3")
	rate := fs.Float64("rate", 20, "writes per second")
	ttl := fs.Duration("event-ttl", time.Hour, "events' TTL (v2) or lease TTL (v3)")
	prefix := fs.String("prefix", "/registry", "key prefix (the apiserver's --etcd-prefix)")
	logPath := fs.String("log", "", "append acknowledged writes here as JSON lines (required)")
	control := fs.String("control", "", "unix socket for ctl commands (required)")
	running := fs.Bool("running", false, "start writing at once (else wait for `ctl start`)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *logPath == "" || *control == "" {
		return errors.New("run: --log and --control are required")
	}
	b, err := k8swriter.ParseBackend(*backend)
	if err != nil {
		return err
	}
	kapi, cli, err := clients(*endpoints, true)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	w, err := k8swriter.New(k8swriter.Config{V2: kapi, V3: cli, Backend: b, Prefix: *prefix, Rate: *rate, EventTTL: *ttl, Log: f})
	if err != nil {
		return err
	}
	ln, err := net.Listen("unix", *control)
	if err != nil {
		return err
	}
	if *running {
		w.Start()
	}
	go func() { _ = w.Serve(ctx, ln) }()
	return w.Run(ctx)
}

func ctl(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	control := fs.String("control", "", "the writer's control socket")
	if err := fs.Parse(args); err != nil {
		return err
	}
	reply, err := k8swriter.Control(ctx, *control, fs.Args()...)
	if err != nil {
		return err
	}
	fmt.Println(reply)
	return nil
}

func check(ctx context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	endpoints := fs.String("endpoints", "http://127.0.0.1:2379", "etcd client URLs, comma-separated")
	logPath := fs.String("log", "", "the writer's log")
	v2 := fs.Bool("v2", false, "also look keys up in the v2 store (before its cleanup)")
	if err := fs.Parse(args); err != nil {
		return 1, err
	}
	kapi, cli, err := clients(*endpoints, *v2)
	if err != nil {
		return 1, err
	}
	defer func() { _ = cli.Close() }()
	f, err := os.Open(*logPath)
	if err != nil {
		return 1, err
	}
	defer func() { _ = f.Close() }()
	rep, err := k8swriter.Check(ctx, f, kapi, cli)
	fmt.Printf("acks %d, keys %d: %d present, %d expired, %d lost\n", rep.Acks, rep.Keys, rep.Present, rep.Expired, len(rep.Lost))
	if errors.Is(err, k8swriter.ErrLost) {
		return 100, err
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}
