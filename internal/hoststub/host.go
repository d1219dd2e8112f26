// Package hoststub is the host side of the remediator's tests: a supervisor
// living in the test process that owns a real etcdtest cluster (so members
// stay children of the test binary: Pdeathsig and t.Cleanup stop them) and
// listens on a unix socket, and the testhost command (cmd/testhost) that a
// test's inventory hooks call the way a user's hooks call ssh and systemctl.
// The remediator under test reaches the members only through those hooks:
// there is no Go back door.
//
//	h := hoststub.Start(t, etcdtest.WithVersion("3.5"), etcdtest.WithMembers(3))
//	fleet := h.Inventory(t, "prod-a") // hooks: [<testhost>, --socket, <S>, stop, "{{.Member}}"], …
//	h.FailNext("install", "m1")       // fault injection: the next install of m1 fails
//	… run the remediator on fleet …
//	for _, c := range h.Calls() { … } // what the hooks asked for, in order
package hoststub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/hoststub/wire"
)

// Writer is the stand-in for a cluster's API servers that writers-stop,
// writers-start and set-backend drive (internal/k8swriter implements it).
type Writer interface {
	StopWriters(ctx context.Context) error
	StartWriters(ctx context.Context) error
	SetBackend(ctx context.Context, backend string) error
}

// WriterFuncs adapts functions to Writer, e.g. for a k8swriter.Writer:
//
//	h.SetWriter(hoststub.WriterFuncs{
//		Stop:       func(context.Context) error { w.Stop(); return nil },
//		Start:      func(context.Context) error { w.Start(); return nil },
//		Backend:    func(_ context.Context, b string) error { return w.SetBackend(k8swriter.Backend(b)) },
//	})
//
// A nil function fails its operation.
type WriterFuncs struct {
	Stop, Start func(ctx context.Context) error
	Backend     func(ctx context.Context, backend string) error
}

var errNoFunc = errors.New("the test's writer does not support this")

// StopWriters calls Stop.
func (w WriterFuncs) StopWriters(ctx context.Context) error {
	if w.Stop == nil {
		return errNoFunc
	}
	return w.Stop(ctx)
}

// StartWriters calls Start.
func (w WriterFuncs) StartWriters(ctx context.Context) error {
	if w.Start == nil {
		return errNoFunc
	}
	return w.Start(ctx)
}

// SetBackend calls Backend.
func (w WriterFuncs) SetBackend(ctx context.Context, backend string) error {
	if w.Backend == nil {
		return errNoFunc
	}
	return w.Backend(ctx, backend)
}

// Probe is the operator's check the verify hook runs; member is "" for a
// cluster-level step.
type Probe func(ctx context.Context, member string) error

// Call is one testhost invocation as the supervisor saw it.
type Call struct {
	Op     string
	Member string
	Args   []string
	Env    map[string]string // ETCDAUDIT_* variables the hook received
	Err    string            // "" on success
	At     time.Time
}

// Host is the supervisor. Its methods are safe for concurrent use.
type Host struct {
	Cluster *etcdtest.Cluster
	Socket  string

	t  testing.TB
	ln net.Listener

	opMu sync.Mutex // one operation at a time, like one operator on a host

	mu      sync.Mutex
	calls   []Call
	faults  []fault
	pending map[string]*pending // member name → changes for its next start
	writer  Writer
	probe   Probe
}

type fault struct{ op, member, msg string }

// Start starts a cluster with etcdtest.NewCluster (same options; it skips the
// test when a binary is missing) and a supervisor for it.
func Start(t testing.TB, opts ...etcdtest.Option) *Host {
	t.Helper()
	return New(t, etcdtest.NewCluster(t, opts...))
}

// New wraps a running cluster. The socket lives in a short temporary
// directory (unix socket paths are limited to 108 bytes) removed at cleanup.
func New(t testing.TB, c *etcdtest.Cluster) *Host {
	t.Helper()
	dir, err := os.MkdirTemp("", "hoststub")
	if err != nil {
		t.Fatalf("hoststub: %v", err)
	}
	h := &Host{Cluster: c, Socket: filepath.Join(dir, "s"), t: t, pending: map[string]*pending{}}
	h.ln, err = net.Listen("unix", h.Socket)
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatalf("hoststub: listen: %v", err)
	}
	done := make(chan struct{})
	go h.serve(done)
	t.Cleanup(func() {
		_ = h.ln.Close()
		<-done
		_ = os.RemoveAll(dir)
	})
	return h
}

// SetWriter sets what writers-stop, writers-start and set-backend act on.
func (h *Host) SetWriter(w Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writer = w
}

// SetProbe sets what verify runs. Without one, verify checks that every
// running member answers a status request and agrees on a leader.
func (h *Host) SetProbe(p Probe) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probe = p
}

// FailNext makes the next call of op (a testhost operation: "install",
// "start", …) for member ("" for any) fail with an injected error, without
// acting. Faults queue: two FailNext fail two calls.
func (h *Host) FailNext(op, member string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = append(h.faults, fault{op: op, member: member, msg: fmt.Sprintf("injected fault: %s %s", op, member)})
}

// Calls returns every call so far, in the order they finished.
func (h *Host) Calls() []Call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// Ops returns the calls as "op member" strings, for compact assertions.
func (h *Host) Ops() []string {
	var out []string
	for _, c := range h.Calls() {
		out = append(out, c.Op+" "+c.Member)
	}
	return out
}

// Member returns the cluster member with that name, or nil.
func (h *Host) Member(name string) *etcdtest.Member {
	for _, m := range h.Cluster.Members {
		if m.Name == name {
			return m
		}
	}
	return nil
}

func (h *Host) serve(done chan struct{}) {
	defer close(done)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := h.ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.handle(conn)
		}()
	}
}

func (h *Host) handle(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	var req wire.Request
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewDecoder(conn).Decode(&req); err != nil {
		_ = json.NewEncoder(conn).Encode(wire.Response{Error: "hoststub: bad request: " + err.Error()})
		return
	}
	out, err := h.do(req)
	resp := wire.Response{Output: out}
	call := Call{Op: req.Op, Member: req.Member, Args: req.Args, Env: req.Env, At: time.Now()}
	if err != nil {
		resp.Error = err.Error()
		call.Err = err.Error()
	}
	h.mu.Lock()
	h.calls = append(h.calls, call)
	h.mu.Unlock()
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_ = json.NewEncoder(conn).Encode(resp)
}

// takeFault removes and returns the first queued fault matching the call.
func (h *Host) takeFault(op, member string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, f := range h.faults {
		if f.op == op && (f.member == "" || f.member == member) {
			h.faults = slices.Delete(h.faults, i, i+1)
			return errors.New(f.msg)
		}
	}
	return nil
}
