package etcdtest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

// TestEmbedUnsupported: signals cannot target the test's own process, so
// Kill, Pause and Resume on embed return ErrInProcess and change nothing.
func TestEmbedUnsupported(t *testing.T) {
	c := etcdtest.NewCluster(t)
	m := c.Members[0]
	for name, op := range map[string]func() error{"Kill": m.Kill, "Pause": m.Pause, "Resume": m.Resume} {
		if err := op(); !errors.Is(err, etcdtest.ErrInProcess) || !strings.Contains(err.Error(), "not supported in-process") {
			t.Errorf("%s on embed: %v, want ErrInProcess", name, err)
		}
	}
	if !m.Running() || m.Paused() {
		t.Fatal("embed member changed by an unsupported call")
	}
	if _, err := c.Client(t).Put(ctxT(t, 10*time.Second), "/still", "serving"); err != nil {
		t.Fatal(err)
	}
}

// TestEmbedToProcess: an in-process member can be stopped and restarted on a
// real binary over the same data dir and ports, and back.
func TestEmbedToProcess(t *testing.T) {
	etcdtest.RequireVersion(t, "3.5")
	c := etcdtest.NewCluster(t)
	ctx := ctxT(t, time.Minute)
	if _, err := c.Client(t).Put(ctx, "/k", "from-embed"); err != nil {
		t.Fatal(err)
	}
	m := c.Members[0]
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := m.Start("3.5"); err != nil {
		t.Fatal(err)
	}
	waitValue(t, ctx, m.Client(t), "/k", "from-embed")
	if m.Version() != "3.5" {
		t.Fatalf("version %q", m.Version())
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(etcdtest.Embed); err != nil {
		t.Fatal(err)
	}
	waitValue(t, ctx, m.Client(t), "/k", "from-embed")
}
