package k8swriter_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/k8swriter"
	"github.com/etcdaudit/etcdaudit/remediate/v2data"
)

// syncBuffer is a log the test reads while the writer may still append.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) reader() *bytes.Reader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.NewReader(bytes.Clone(s.b.Bytes()))
}

// waitAcked lets the writer run until it has acknowledged n more writes.
func waitAcked(t *testing.T, w *k8swriter.Writer, n int64) {
	t.Helper()
	want := w.Stats().Acked + n
	deadline := time.Now().Add(time.Minute)
	for w.Stats().Acked < want {
		if time.Now().After(deadline) {
			t.Fatalf("writer acknowledged %d writes in a minute; want %d (stats %+v)", w.Stats().Acked, want, w.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWriterAcrossBackendSwitch writes to etcd2, stops, copies v2 into v3,
// switches to etcd3, writes again: every acknowledged write is present, or
// expired once its TTL ran out; a key deleted behind the writer's back is
// reported lost.
func TestWriterAcrossBackendSwitch(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"), etcdtest.WithV2())
	cli := c.Client(t)
	kapi, err := v2data.NewKeysAPI(c.Endpoints(), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var log syncBuffer
	const ttl = 3 * time.Second
	w, err := k8swriter.New(k8swriter.Config{V2: kapi, V3: cli, Rate: 200, EventTTL: ttl, LeaseBucketWidth: time.Second, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() { stopRun(); <-done }()

	w.Start()
	waitAcked(t, w, 60)
	w.Stop()
	if _, err := v2data.Copy(ctx, kapi, cli, []string{"/registry"}, v2data.CopyOptions{BucketWidth: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetBackend(k8swriter.Etcd3); err != nil {
		t.Fatal(err)
	}
	w.Start()
	waitAcked(t, w, 60)
	w.Stop()
	st := w.Stats()
	if st.Running || st.Backend != k8swriter.Etcd3 {
		t.Fatalf("stats %+v; want stopped on etcd3", st)
	}

	rep, err := k8swriter.Check(ctx, log.reader(), kapi, cli)
	if err != nil || rep.Acks != int(st.Acked) || rep.Present != rep.Keys {
		t.Fatalf("check %+v, %v; want all %d acknowledged writes present", rep, err, st.Acked)
	}
	time.Sleep(ttl + 5*time.Second) // events expire in both stores, objects stay
	rep, err = k8swriter.Check(ctx, log.reader(), kapi, cli)
	if err != nil || rep.Expired == 0 || rep.Present+rep.Expired != rep.Keys {
		t.Fatalf("check after the TTL %+v, %v; want events expired, objects present", rep, err)
	}

	victim := "/registry/pods/ns-0/writer-0"
	if _, err := cli.Delete(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if _, err := kapi.Delete(ctx, victim, nil); err != nil {
		t.Fatal(err)
	}
	rep, err = k8swriter.Check(ctx, log.reader(), kapi, cli)
	if !errors.Is(err, k8swriter.ErrLost) || len(rep.Lost) != 1 || rep.Lost[0] != victim {
		t.Fatalf("check after deleting %s: %+v, %v; want it lost", victim, rep, err)
	}
}

// TestControl drives a writer through its control socket as the host
// stand-in's writers-stop/start and set-backend do.
func TestControl(t *testing.T) {
	c := etcdtest.NewCluster(t) // embed: only the v3 side is written here
	cli := c.Client(t)
	var log syncBuffer
	w, err := k8swriter.New(k8swriter.Config{V3: cli, Backend: k8swriter.Etcd3, Rate: 100, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "kw") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "w.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Serve(ctx, ln) })
	wg.Go(func() { _ = w.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	if r, err := k8swriter.Control(ctx, sock, "start"); err != nil || !strings.Contains(r, "running=true") {
		t.Fatalf("start: %q, %v", r, err)
	}
	waitAcked(t, w, 10)
	if r, err := k8swriter.Control(ctx, sock, "stop"); err != nil || !strings.Contains(r, "running=false") {
		t.Fatalf("stop: %q, %v", r, err)
	}
	acked := w.Stats().Acked
	time.Sleep(100 * time.Millisecond)
	if w.Stats().Acked != acked {
		t.Fatal("the writer kept writing after stop")
	}
	if _, err := k8swriter.Control(ctx, sock, "backend", "etcd2"); err == nil {
		t.Fatal("switching to etcd2 without a v2 client succeeded")
	}
	if _, err := k8swriter.Control(ctx, sock, "backend", "etcd9"); err == nil {
		t.Fatal("an unknown backend was accepted")
	}
	if _, err := k8swriter.Control(ctx, sock, "explode"); err == nil {
		t.Fatal("an unknown command was accepted")
	}
	if r, err := k8swriter.Control(ctx, sock, "status"); err != nil || !strings.Contains(r, "backend=etcd3") {
		t.Fatalf("status: %q, %v", r, err)
	}
	rep, err := k8swriter.Check(ctx, log.reader(), nil, cli)
	if err != nil || rep.Acks != int(acked) {
		t.Fatalf("check %+v, %v; want %d acks, all present", rep, err, acked)
	}
}
