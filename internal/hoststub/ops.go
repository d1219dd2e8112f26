package hoststub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
	"github.com/etcdaudit/etcdaudit/internal/hoststub/wire"
)

// opTimeout bounds one operation; a member start waits up to
// etcdtest.StartTimeout on its own.
const opTimeout = 2 * time.Minute

// pending are a member's changes for its next start, as a host's package
// manager and config file would hold them.
type pending struct {
	version string   // short version to start, "" keeps the current one
	v2      bool     // --enable-v2 in the member's configuration
	snap    *uint64  // --snapshot-count, nil unchanged
	flags   []string // other raw flags, nil unchanged
	set     bool     // v2 was read from the member
	added   []string // for status
	dropped []string // for status
}

func (h *Host) do(req wire.Request) (string, error) {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	if err := h.takeFault(req.Op, req.Member); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	switch req.Op {
	case "writers-stop", "writers-start", "set-backend":
		return h.writerOp(ctx, req)
	case "verify":
		return h.verify(ctx, req.Member)
	}
	m := h.Member(req.Member)
	if m == nil {
		var names []string
		for _, x := range h.Cluster.Members {
			names = append(names, x.Name)
		}
		return "", fmt.Errorf("no member %q on this host (members: %s)", req.Member, strings.Join(names, ", "))
	}
	switch req.Op {
	case "stop":
		if err := m.Stop(); err != nil {
			return "", err
		}
		return fmt.Sprintf("stopped %s\n", m.Name), nil
	case "start":
		return h.start(m)
	case "install":
		if len(req.Args) != 1 {
			return "", errors.New("usage: install <member> <version>")
		}
		return h.install(m, req.Args[0])
	case "set-flags":
		return h.setFlags(m, req.Args)
	case "status":
		return h.status(m)
	case "restore":
		if len(req.Args) != 1 {
			return "", errors.New("usage: restore <member> <snapshot>")
		}
		return h.restore(ctx, m, req.Args[0])
	case "check-v2store":
		return h.checkV2Store(ctx, m)
	}
	return "", fmt.Errorf("unknown operation %q", req.Op)
}

// pendingFor returns the member's pending changes, reading its --enable-v2
// from the running process the first time.
func (h *Host) pendingFor(m *etcdtest.Member) *pending {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pending[m.Name]
	if p == nil {
		p = &pending{}
		h.pending[m.Name] = p
	}
	if !p.set {
		p.v2 = slices.ContainsFunc(cmdline(m.PID()), func(a string) bool { return a == "--enable-v2=true" || a == "--enable-v2" })
		p.set = true
	}
	return p
}

func (h *Host) install(m *etcdtest.Member, version string) (string, error) {
	full, err := etcdtest.FullVersion(version)
	if err != nil {
		return "", fmt.Errorf("install etcd %s: no such release on this host: %w", version, err)
	}
	bin, err := etcdtest.FindBinary(full)
	if err != nil {
		return "", fmt.Errorf("install etcd %s: %w", full, err)
	}
	p := h.pendingFor(m)
	h.mu.Lock()
	p.version = full
	h.mu.Unlock()
	return fmt.Sprintf("installed etcd %s (%s) for %s; it runs at the next start\n", full, bin, m.Name), nil
}

func (h *Host) start(m *etcdtest.Member) (string, error) {
	p := h.pendingFor(m)
	h.mu.Lock()
	version := p.version
	if version == "" {
		version = m.FullVersion()
	}
	opts := []etcdtest.Option{etcdtest.WithoutV2()}
	if p.v2 {
		opts[0] = etcdtest.WithV2()
	}
	if p.snap != nil {
		opts = append(opts, etcdtest.WithSnapshotCount(*p.snap))
	}
	if p.flags != nil {
		opts = append(opts, etcdtest.WithOnlyFlags(p.flags...))
	}
	v2 := p.v2
	h.mu.Unlock()
	// etcdtest drops --enable-v2 on 3.6+ by itself; a real 3.6 refuses it.
	if v2 && newerThan35(version) {
		return "", fmt.Errorf("start %s on etcd %s: flag provided but not defined: -enable-v2 (the v2 API was removed in 3.6; drop --enable-v2 first)", m.Name, version)
	}
	err := m.StartWith(version, opts...)
	h.mu.Lock()
	// The member's configuration now holds the changes, started or not.
	h.pending[m.Name] = &pending{v2: v2, set: true}
	h.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("%w\nlog tail:\n%s", err, m.LogTail(15))
	}
	return fmt.Sprintf("started %s on etcd %s (pid %d)\n", m.Name, m.FullVersion(), m.PID()), nil
}

func newerThan35(full string) bool { return etcdversion.AtLeast(full, 3, 6) }

// setFlags applies "--add F... --drop NAME..." to the member's next start.
func (h *Host) setFlags(m *etcdtest.Member, args []string) (string, error) {
	var add, drop []string
	var mode *[]string
	for _, a := range args {
		switch a {
		case "--add":
			mode = &add
		case "--drop":
			mode = &drop
		default:
			if mode == nil || !strings.HasPrefix(a, "--") {
				return "", fmt.Errorf("set-flags: %q: want --add FLAG... --drop NAME... with flags written --name[=value]", a)
			}
			*mode = append(*mode, a)
		}
	}
	p := h.pendingFor(m)
	h.mu.Lock()
	defer h.mu.Unlock()
	flags := p.flags
	if flags == nil {
		flags = m.Flags()
	}
	without := func(name string) {
		flags = slices.DeleteFunc(flags, func(f string) bool { n, _, _ := strings.Cut(f, "="); return n == name })
	}
	for _, f := range add {
		name, val, hasVal := strings.Cut(f, "=")
		switch name {
		case "--enable-v2":
			p.v2 = !hasVal || val == "true"
		case "--snapshot-count":
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return "", fmt.Errorf("set-flags: %s: not a count", f)
			}
			p.snap = &n
		default:
			without(name)
			flags = append(flags, f)
		}
	}
	for _, f := range drop {
		name, _, _ := strings.Cut(f, "=")
		switch name {
		case "--enable-v2":
			p.v2 = false
		case "--snapshot-count":
			zero := uint64(0)
			p.snap = &zero
		default:
			without(name)
		}
	}
	p.flags = flags
	p.added = append(p.added, add...)
	p.dropped = append(p.dropped, drop...)
	return fmt.Sprintf("%s: next start adds %q, drops %q\n", m.Name, add, drop), nil
}

// Status is what `testhost status` prints, as JSON.
type Status struct {
	Member      string   `json:"member"`
	Running     bool     `json:"running"`
	PID         int      `json:"pid,omitempty"`
	Version     string   `json:"version"`                // running, or last run
	NextVersion string   `json:"next_version,omitempty"` // installed, for the next start
	Flags       []string `json:"flags,omitempty"`        // the running process's command line
	FlagsAdded  []string `json:"flags_added,omitempty"`  // pending for the next start
	FlagsDrop   []string `json:"flags_dropped,omitempty"`
	DataDir     string   `json:"data_dir"`
}

func (h *Host) status(m *etcdtest.Member) (string, error) {
	s := Status{Member: m.Name, Running: m.Running(), PID: m.PID(), Version: m.FullVersion(), DataDir: m.DataDir}
	if s.PID != 0 {
		if args := cmdline(s.PID); len(args) > 0 {
			s.Flags = args[1:]
		}
	}
	h.mu.Lock()
	if p := h.pending[m.Name]; p != nil {
		s.NextVersion, s.FlagsAdded, s.FlagsDrop = p.version, p.added, p.dropped
	}
	h.mu.Unlock()
	b, err := json.Marshal(s)
	return string(b) + "\n", err
}

// cmdline returns a process's arguments, nil when it is gone.
func cmdline(pid int) []string {
	if pid == 0 {
		return nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

func (h *Host) writerOp(ctx context.Context, req wire.Request) (string, error) {
	h.mu.Lock()
	w := h.writer
	h.mu.Unlock()
	if w == nil {
		return "", fmt.Errorf("%s: this host has no writers (the test set none)", req.Op)
	}
	switch req.Op {
	case "writers-stop":
		return "writers stopped\n", w.StopWriters(ctx)
	case "writers-start":
		return "writers started\n", w.StartWriters(ctx)
	}
	if len(req.Args) != 1 || req.Args[0] == "" {
		return "", errors.New("usage: set-backend <cluster> <backend>")
	}
	return "backend set to " + req.Args[0] + "\n", w.SetBackend(ctx, req.Args[0])
}

func (h *Host) verify(ctx context.Context, member string) (string, error) {
	h.mu.Lock()
	p := h.probe
	h.mu.Unlock()
	if p != nil {
		if err := p(ctx, member); err != nil {
			return "", fmt.Errorf("verify: probe failed: %w", err)
		}
		return "verify: probe passed\n", nil
	}
	var leaders []uint64
	for _, m := range h.Cluster.Members {
		if !m.Running() {
			continue
		}
		cli, err := clientv3.New(h.Cluster.ClientConfig(m.ClientURL))
		if err != nil {
			return "", fmt.Errorf("verify %s: %w", m.Name, err)
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := cli.Status(sctx, m.ClientURL)
		cancel()
		_ = cli.Close()
		if err != nil {
			return "", fmt.Errorf("verify: %s does not answer: %w", m.Name, err)
		}
		leaders = append(leaders, st.Leader)
	}
	if len(leaders) == 0 || slices.ContainsFunc(leaders, func(l uint64) bool { return l == 0 || l != leaders[0] }) {
		return "", fmt.Errorf("verify: members disagree on the leader or have none: %x", leaders)
	}
	return fmt.Sprintf("verify: %d running members agree on leader %x\n", len(leaders), leaders[0]), nil
}
