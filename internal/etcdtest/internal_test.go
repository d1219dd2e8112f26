package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  config
		want string
	}{
		{config{version: "3.6", members: 1, name: "m", v2: true}, "removed in 3.6"},
		{config{version: "3.7", members: 1, name: "m", v2: true}, "removed in 3.6"},
		{config{version: "3.9", members: 1, name: "m"}, "unknown etcd version"},
		{config{version: "embed", members: 0, name: "m"}, "want 1 to 5"},
		{config{version: "3.5", members: 6, name: "m"}, "want 1 to 5"},
		{config{version: "embed", members: 1, name: "m", flags: []string{"--x"}}, "in-process"},
		{config{version: "3.5", members: 1, name: "a=b"}, "plain name"},
		{config{version: "3.5.35", members: 1, name: "m", v2: true}, ""},
		{config{version: "v3.4.23", members: 5, name: "m", v2: true}, ""},
	} {
		err := tc.cfg.validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: err %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestArgs(t *testing.T) {
	c := &Cluster{cfg: config{version: "3.5", v2: true, auth: true, snapshotCount: 5, name: "m", flags: []string{"--quota-backend-bytes=1"}},
		TLS: &TLSFiles{CA: "ca", ServerCert: "s.crt", ServerKey: "s.key"}}
	m := &Member{Name: "m0", c: c, cfg: c.cfg}
	has := func(args []string, a string) bool {
		for _, x := range args {
			if x == a {
				return true
			}
		}
		return false
	}
	a35 := m.args("3.5")
	for _, want := range []string{"--enable-v2=true", "--snapshot-count=5", "--unsafe-no-fsync=true",
		"--client-cert-auth=true", "--trusted-ca-file=ca", "--quota-backend-bytes=1", "--bcrypt-cost=4"} {
		if !has(a35, want) {
			t.Errorf("3.5 args lack %s: %q", want, a35)
		}
	}
	if a := m.args("3.6"); has(a, "--enable-v2=true") {
		t.Errorf("3.6 args keep --enable-v2: %q", a)
	}
	if a := m.args("3.4"); has(a, "--unsafe-no-fsync=true") {
		t.Errorf("3.4 args have --unsafe-no-fsync, which 3.4.23 lacks: %q", a)
	}
}

func TestBinaryLookup(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ETCDAUDIT_ETCD_DIR", dir)
	t.Setenv("CI", "")
	p, err := BinaryPath("3.6")
	if err != nil || p != filepath.Join(dir, "v3.6.16", "etcd") {
		t.Fatalf("BinaryPath(3.6) = %q, %v", p, err)
	}
	if _, err := FindBinary("3.6"); err == nil || !strings.Contains(err.Error(), "make etcd-binaries") {
		t.Fatalf("FindBinary on an empty dir: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FindBinary("v3.6.16"); err != nil || got != p {
		t.Fatalf("FindBinary = %q, %v", got, err)
	}
	if p, _ := BinaryPath("3.4"); p != "/usr/bin/etcd" {
		t.Fatalf("3.4 at %q", p)
	}
	if _, err := BinaryPath(Embed); err == nil {
		t.Fatal("embed has a binary path")
	}
	// Without the variable the cache sits beside go.mod.
	t.Setenv("ETCDAUDIT_ETCD_DIR", "")
	p, err = BinaryPath("3.7")
	if err != nil || !strings.HasSuffix(p, filepath.Join(".cache", "etcd", "v3.7.3", "etcd")) {
		t.Fatalf("fallback BinaryPath(3.7) = %q, %v", p, err)
	}
	root := strings.TrimSuffix(p, filepath.Join(".cache", "etcd", "v3.7.3", "etcd"))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("fallback is not beside go.mod: %v", err)
	}
}

// TestMissingBinary: locally a missing binary skips naming the make target;
// under CI=true it fails.
func TestMissingBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short skips binary versions before looking for them")
	}
	t.Setenv("ETCDAUDIT_ETCD_DIR", t.TempDir())
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		rec := &recorder{TB: t}
		done := make(chan struct{})
		go func() { // Skipf/Fatalf end the goroutine, as they would a test.
			defer close(done)
			RequireVersion(rec, "3.6")
		}()
		<-done
		switch {
		case ci == "" && (!rec.skipped || !strings.Contains(rec.msg, "make etcd-binaries")):
			t.Errorf("CI unset: skipped=%v msg=%q; want a skip naming make etcd-binaries", rec.skipped, rec.msg)
		case ci == "true" && (!rec.failed || !strings.Contains(rec.msg, "make etcd-binaries")):
			t.Errorf("CI=true: failed=%v msg=%q; want a failure naming make etcd-binaries", rec.failed, rec.msg)
		}
	}
}

// recorder captures Skipf/Fatalf instead of ending the real test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(f string, a ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(f, a...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(f string, a ...any) {
	r.failed, r.msg = true, fmt.Sprintf(f, a...)
	runtime.Goexit()
}

// TestPortClash: a port taken between reservation and bind is reported as
// errPortClash, which NewCluster retries on fresh ports.
func TestPortClash(t *testing.T) {
	for _, v := range []string{"3.5", Embed} {
		t.Run(v, func(t *testing.T) {
			RequireVersion(t, v)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ports, err := freePorts(1)
			if err != nil {
				t.Fatal(err)
			}
			c := &Cluster{t: t, cfg: config{version: v, members: 1, name: "clash"}, dir: t.TempDir()}
			t.Cleanup(c.Close)
			dir := t.TempDir()
			m := &Member{Name: "clash0", c: c, cfg: c.cfg, version: v,
				ClientURL: "http://" + l.Addr().String(),
				PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
				DataDir:   filepath.Join(dir, "data"), LogFile: filepath.Join(dir, "etcd.log")}
			m.initialCluster = m.Name + "=" + m.PeerURL
			c.Members = []*Member{m}
			err = m.launch(v)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				err = m.WaitReady(ctx)
			}
			if !errors.Is(err, errPortClash) {
				t.Fatalf("err = %v, want errPortClash", err)
			}
		})
	}
}

// TestPortClashRetry: when a member's port is taken at start, NewCluster
// starts the whole cluster again on fresh ports, without waiting out the
// start timeout on the members that did start.
func TestPortClashRetry(t *testing.T) {
	for _, v := range []string{"3.5", Embed} {
		t.Run(v, func(t *testing.T) {
			RequireVersion(t, v)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			calls := 0
			reservePorts = func(n int) ([]int, error) {
				calls++
				ports, err := freePorts(n)
				if calls == 1 && err == nil {
					ports[2] = l.Addr().(*net.TCPAddr).Port // second member's client port
				}
				return ports, err
			}
			defer func() { reservePorts = freePorts }()
			start := time.Now()
			c := NewCluster(t, WithVersion(v), WithMembers(2))
			if calls != 2 {
				t.Fatalf("ports reserved %d times, want 2 (one retry)", calls)
			}
			if d := time.Since(start); d > StartTimeout/2 {
				t.Errorf("start with one clash took %s", d)
			}
			if !strings.HasSuffix(c.Members[1].DataDir, filepath.Join("m1.2", "data")) {
				t.Errorf("retry data dir %s, want a fresh m1.2", c.Members[1].DataDir)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := c.Client(t).Put(ctx, "/k", "v"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRestartWaitsOutAPortClash: a member's client port, freed by its stop,
// is held by another socket for a moment; Start (which keeps the member's
// ports) retries until it is free again instead of failing.
func TestRestartWaitsOutAPortClash(t *testing.T) {
	RequireVersion(t, "3.5")
	c := NewCluster(t, WithVersion("3.5"))
	m := c.Members[0]
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(m.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Fatalf("hold the freed client port: %v", err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(1500 * time.Millisecond)
		l.Close()
		close(released)
	}()
	if err := m.Start(""); err != nil {
		t.Fatalf("restart beside a briefly held port: %v", err)
	}
	<-released
}
