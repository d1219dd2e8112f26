package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// SocketName is the unix socket, in the demo's directory, on which the
// running demo answers its clusters' writer hooks (etcdaudit demo hook).
const SocketName = "demo.sock"

// apiServers stands in for one cluster's Kubernetes API servers: the demo
// runs none, so what the remediator's writer hooks change is this state, and
// the verify hook checks it against the data the way a kubelet would find
// out: API servers running on a backend whose store holds no /registry
// would leave every node NotReady.
type apiServers struct {
	running   bool
	backend   string // etcd2 or etcd3
	notReady  bool   // a fault the user sets: kubelets NotReady on etcd3
	endpoint  string
	v2Enabled bool
}

// hookServer answers `etcdaudit demo hook` over the demo's unix socket.
type hookServer struct {
	mu       sync.Mutex
	clusters map[string]*apiServers
	ln       net.Listener
	wg       sync.WaitGroup
}

// serveHooks listens on dir/demo.sock (a stale socket from a demo that did
// not exit cleanly is replaced).
func (f *Fleet) serveHooks() error {
	path := filepath.Join(f.Dir, SocketName)
	if len(path) > 100 { // sun_path holds 108 bytes on Linux, 104 on macOS
		return fmt.Errorf("demo: hook socket %s: path too long for a unix socket; use a shorter --dir", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("demo: hook socket: %w", err)
	}
	hs := &hookServer{clusters: map[string]*apiServers{}, ln: ln}
	for i, st := range f.stories {
		if st.hooks {
			rc := f.running[i]
			hs.clusters[rc.spec.name] = &apiServers{running: true, backend: st.backend, endpoint: rc.clients[0], v2Enabled: rc.spec.v2}
		}
	}
	f.hooks = hs
	hs.wg.Add(1)
	go func() {
		defer hs.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			hs.wg.Add(1)
			go func() {
				defer hs.wg.Done()
				hs.serve(conn)
			}()
		}
	}()
	return nil
}

func (hs *hookServer) close() {
	_ = hs.ln.Close()
	hs.wg.Wait()
}

// serve reads one request line (fields separated by tabs) and writes one
// answer: "ok <text>" or "error <text>".
func (hs *hookServer) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadString('\n')
	if err != nil {
		return
	}
	msg, err := hs.handle(strings.Split(strings.TrimSuffix(line, "\n"), "\t"))
	if err != nil {
		fmt.Fprintf(conn, "error %s\n", oneLine(err.Error()))
		return
	}
	fmt.Fprintf(conn, "ok %s\n", oneLine(msg))
}

func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

// HookCommands are what `etcdaudit demo hook` accepts.
var HookCommands = []string{"stop_writers", "start_writers", "set_backend", "verify", "kubelets", "status"}

func (hs *hookServer) handle(args []string) (string, error) {
	if len(args) < 2 {
		return "", fmt.Errorf("want a command and a cluster, got %q", args)
	}
	cmd, name, rest := args[0], args[1], args[2:]
	hs.mu.Lock()
	defer hs.mu.Unlock()
	a := hs.clusters[name]
	if a == nil {
		return "", fmt.Errorf("cluster %q has no API server stand-in in this demo", name)
	}
	const standIn = "(the demo's stand-in for the API servers: no real kube-apiserver runs)"
	switch cmd {
	case "stop_writers":
		a.running = false
		return fmt.Sprintf("API servers of %s stopped %s", name, standIn), nil
	case "start_writers":
		a.running = true
		return fmt.Sprintf("API servers of %s started on --storage-backend=%s %s", name, a.backend, standIn), nil
	case "set_backend":
		if len(rest) != 1 || (rest[0] != "etcd2" && rest[0] != "etcd3") {
			return "", fmt.Errorf("set_backend %s: want etcd2 or etcd3, got %q", name, rest)
		}
		a.backend = rest[0]
		return fmt.Sprintf("API servers of %s now use --storage-backend=%s %s", name, a.backend, standIn), nil
	case "kubelets":
		if len(rest) != 1 || (rest[0] != "ready" && rest[0] != "notready") {
			return "", fmt.Errorf("kubelets %s: want ready or notready, got %q", name, rest)
		}
		a.notReady = rest[0] == "notready"
		return fmt.Sprintf("kubelets of %s will report %s once the API servers run on etcd3", name, rest[0]), nil
	case "status":
		return fmt.Sprintf("API servers of %s: running %t, --storage-backend=%s, kubelets fault %t", name, a.running, a.backend, a.notReady), nil
	case "verify":
		return a.verify(name)
	}
	return "", fmt.Errorf("unknown command %q: want one of %s", cmd, strings.Join(HookCommands, ", "))
}

// verify is the user's probe: with the API servers up, their backend's
// store must hold the /registry data, and the kubelets must be Ready.
func (a *apiServers) verify(name string) (string, error) {
	if !a.running {
		return fmt.Sprintf("%s: API servers stopped, nothing to probe", name), nil
	}
	if a.notReady && a.backend == "etcd3" {
		return "", fmt.Errorf("%s: 3 of 3 kubelets NotReady since the API servers moved to etcd3 (the fault set with `etcdaudit demo hook kubelets %s notready`)", name, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := a.registryKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: probe the %s store: %w", name, a.backend, err)
	}
	if n == 0 {
		return "", fmt.Errorf("%s: API servers on --storage-backend=%s find no /registry data: every kubelet would go NotReady", name, a.backend)
	}
	return fmt.Sprintf("%s: API servers on %s see /registry (%d top-level entries), kubelets Ready", name, a.backend, n), nil
}

// registryKeys counts /registry entries in the store the backend names:
// v2 children of /registry (a plain, non-quorum GET: quorum reads would
// append v2 entries to the raft log), or v3 keys under /registry/.
func (a *apiServers) registryKeys(ctx context.Context) (int, error) {
	if a.backend == "etcd2" {
		if !a.v2Enabled {
			return 0, nil
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.endpoint+"/v2/keys/registry", nil)
		if err != nil {
			return 0, err
		}
		// One connection per request: a kept-alive one would stall the
		// member's shutdown (see seedCluster).
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode == http.StatusNotFound {
			return 0, nil
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET /v2/keys/registry: %s", resp.Status)
		}
		return strings.Count(string(body), `"key":"/registry/`), nil
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{a.endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	r, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return int(r.Count), nil
}

// Hook sends one command to the demo running in dir and returns its answer;
// an "error" answer is an error.
func Hook(ctx context.Context, dir string, args ...string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(dir, SocketName))
	if err != nil {
		return "", fmt.Errorf("no demo running in %s (etcdaudit demo --keep --dir %s): %w", dir, dir, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	for _, a := range args {
		if strings.ContainsAny(a, "\t\n") {
			return "", errors.New("demo hook: an argument holds a tab or a newline")
		}
	}
	if _, err := fmt.Fprintf(conn, "%s\n", strings.Join(args, "\t")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("demo hook: no answer: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	if msg, ok := strings.CutPrefix(line, "ok "); ok {
		return msg, nil
	}
	return "", errors.New(strings.TrimPrefix(line, "error "))
}
