package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcdaudit/etcdaudit/internal/hoststub"
)

// holdGate freezes a remediator at an exact point of a data action, with no
// timing involved. The remediator's client traffic goes through relays (one
// per member) that share the gate; once armed, the first client→server
// chunk on any relay holding marker (a key name: gRPC sends keys as raw
// protobuf bytes, and the tests run without TLS) is not forwarded, and from
// then on no relay forwards anything from client to server until the test
// ends the hold: the remediator sits inside its step, blocked on a request
// the server never got. Tests arm the gate from a hook (stop_writers,
// start_writers, verify) that runs just before the step they target, so an
// earlier step reading the same key cannot trip it.
type holdGate struct {
	marker []byte

	mu     sync.Mutex
	armed  bool
	state  int           // gateOpen, gateHolding, gateDone
	drop   bool          // set with gateDone: held chunks are dropped, their connections closed
	heldCh chan struct{} // closed when the marker is seen
	freeCh chan struct{} // closed when the hold ends
}

const (
	gateOpen = iota
	gateHolding
	gateDone
)

func newHoldGate(marker string) *holdGate {
	return &holdGate{marker: []byte(marker), heldCh: make(chan struct{}), freeCh: make(chan struct{})}
}

func (g *holdGate) arm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed = true
}

// held is closed once the remediator is frozen at the marker.
func (g *holdGate) held() <-chan struct{} { return g.heldCh }

// release ends the hold: the held requests reach the server (drop false), or
// are thrown away with their connections (drop true, after the remediator
// was killed: a request it never finished sending must not be applied).
// Traffic flows freely afterwards.
func (g *holdGate) release(drop bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == gateDone {
		return
	}
	g.state, g.drop = gateDone, drop
	close(g.freeCh)
}

// pass decides about one chunk (seen is the chunk with the end of the
// previous one on the same connection, so a marker split across two reads
// is found): true to forward it, false to drop it and close the connection.
func (g *holdGate) pass(seen []byte) bool {
	g.mu.Lock()
	if g.armed && g.state == gateOpen && bytes.Contains(seen, g.marker) {
		g.state = gateHolding
		close(g.heldCh)
	}
	st := g.state
	g.mu.Unlock()
	if st != gateHolding {
		return true
	}
	<-g.freeCh
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.drop
}

// relay forwards TCP connections from a local port to target through g.
type relay struct {
	ln     net.Listener
	target string
	g      *holdGate

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// startRelay listens on a free local port and returns its URL.
func startRelay(t *testing.T, target string, g *holdGate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target, g: g, conns: map[net.Conn]bool{}}
	r.wg.Go(r.accept)
	t.Cleanup(func() {
		g.release(true)
		_ = ln.Close()
		r.mu.Lock()
		for c := range r.conns {
			_ = c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		return false
	}
	r.conns[c] = true
	return true
}

func (r *relay) accept() {
	defer func() {
		r.mu.Lock()
		r.conns = nil
		r.mu.Unlock()
	}()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
		if err != nil { // the member is down (restarting): the client retries
			_ = c.Close()
			continue
		}
		if !r.track(c) || !r.track(up) {
			_ = c.Close()
			_ = up.Close()
			return
		}
		r.wg.Go(func() {
			_, _ = io.Copy(c, up)
			_ = c.Close()
		})
		r.wg.Go(func() {
			r.forward(up, c)
			_ = up.Close()
		})
	}
}

// forward copies client bytes to the server, each chunk through the gate.
func (r *relay) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	var tail []byte
	for {
		n, err := src.Read(buf)
		if n > 0 {
			seen := append(tail, buf[:n]...)
			if !r.g.pass(seen) {
				_ = src.Close()
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			keep := max(0, len(seen)-(len(r.g.marker)-1))
			tail = append(tail[:0], seen[keep:]...)
		}
		if err != nil {
			return
		}
	}
}

// relayedFleet rewrites the hoststub inventory of cluster so that the
// remediator reaches every member's client port through a relay sharing g
// (the hooks and the members' advertised URLs stay as they are).
func relayedFleet(t *testing.T, h *hoststub.Host, cluster string, g *holdGate) string {
	t.Helper()
	path := h.Inventory(t, cluster)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var inv map[string]any
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	var eps []string
	for _, ep := range h.Cluster.Endpoints() {
		eps = append(eps, startRelay(t, strings.TrimPrefix(ep, "http://"), g))
	}
	inv["clusters"].([]any)[0].(map[string]any)["endpoints"] = eps
	if b, err = yaml.Marshal(inv); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Environment of the etcdaudit process the kill tests start.
const envCLIArgs = "ETCDAUDIT_TEST_CLI_ARGS"

// TestHelperCLIProcess is etcdaudit itself, as a separate process the kill
// tests start and kill with SIGKILL: main's run with the arguments in
// ETCDAUDIT_TEST_CLI_ARGS. On its own it does nothing.
func TestHelperCLIProcess(t *testing.T) {
	raw := os.Getenv(envCLIArgs)
	if raw == "" {
		t.Skip("the etcdaudit process of the kill tests")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// cliProc is an etcdaudit process started by a test.
type cliProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited and its output is read
	mu     sync.Mutex
	out    []string // stdout and stderr lines
	runID  string
}

// startCLI starts etcdaudit with args as its own process (this test binary
// running TestHelperCLIProcess).
func startCLI(t *testing.T, args ...string) *cliProc {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCLIProcess$")
	cmd.Env = append(os.Environ(), envCLIArgs+"="+string(raw))
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	p := &cliProc{cmd: cmd, exited: make(chan struct{})}
	runRE := regexp.MustCompile(`^\S+ run (\S+): `)
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.out = append(p.out, sc.Text())
			if m := runRE.FindStringSubmatch(sc.Text()); m != nil && p.runID == "" {
				p.runID = m[1]
			}
			p.mu.Unlock()
		}
		_ = pr.Close()
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

func (p *cliProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.out, "\n")
}

// killAt waits until g holds the remediator (or the process ends, or two
// minutes pass: a failure either way), then lets check look at the frozen
// cluster and kills the process with SIGKILL. The held requests are
// dropped. It returns the run id the process printed.
func (p *cliProc) killAt(t *testing.T, g *holdGate, check func()) string {
	t.Helper()
	select {
	case <-g.held():
	case <-p.exited:
		t.Fatalf("etcdaudit exited (%v) before reaching the kill point:\n%s", p.cmd.ProcessState, p.output())
	case <-time.After(2 * time.Minute):
		t.Fatalf("etcdaudit did not reach the kill point in 2 minutes:\n%s", p.output())
	}
	check()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	g.release(true)
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("etcdaudit ended with %v, not by the SIGKILL:\n%s", p.cmd.ProcessState, p.output())
	}
	p.mu.Lock()
	id := p.runID
	p.mu.Unlock()
	if id == "" {
		t.Fatalf("the killed etcdaudit printed no run id:\n%s", p.output())
	}
	t.Logf("killed run %s after:\n%s", id, p.output())
	return id
}

// planFile runs `remediate plan` in-process and returns the plan's path.
func planFile(t *testing.T, fleet, state string, extra ...string) string {
	t.Helper()
	planPath := filepath.Join(filepath.Dir(state), "plan.json")
	args := append([]string{"remediate", "plan", "-f", fleet, "-o", planPath, "--state-dir", state, "--color", "never"}, extra...)
	if code, stdout, stderr := runCLI(t, args...); code != 0 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	return planPath
}

var errNoMarker = errors.New("no key fits as a marker")

// markerKey picks from keys (in the order a walk reaches them) the one at
// about frac of the way that no other key contains (the relay matches
// bytes, so "/a/key-1" would also match "/a/key-10").
func markerKey(keys []string, frac float64) (string, error) {
	for i := int(float64(len(keys)) * frac); i < len(keys); i++ {
		unique := true
		for j, k := range keys {
			if j != i && strings.Contains(k, keys[i]) {
				unique = false
				break
			}
		}
		if unique {
			return keys[i], nil
		}
	}
	return "", errNoMarker
}
