package collectors_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

// TestLearner: a learner serves only Status and serializable reads. Its
// facts come from those; what it cannot serve is "unsupported", not a
// failure, and HashKV compares the voting members.
func TestLearner(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("3.5"))
	cli := c.Client(t)
	seedV3(t, cli, "/registry/pods/p%d", 4)
	bin, err := etcdtest.BinaryPath("3.5")
	if err != nil {
		t.Skip(err)
	}
	cport, pport := freePort(t), freePort(t)
	peer, client := "http://127.0.0.1:"+pport, "http://127.0.0.1:"+cport
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.MemberAddAsLearner(ctx, []string{peer}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "learner.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, "--name=learner", "--data-dir="+filepath.Join(dir, "data"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=m0="+c.Members[0].PeerURL+",learner="+peer, "--initial-cluster-state=existing")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	lcli := c.Client(t, client)
	deadline := time.Now().Add(30 * time.Second)
	for {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		st, err := lcli.Status(sctx, client)
		scancel()
		if err == nil && st.IsLearner && st.Header.Revision == 5 {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("learner never caught up: %v %+v\n%s", err, st, b)
		}
		time.Sleep(200 * time.Millisecond)
	}

	f := run(t, fleetFor(t, "learner", c), collectors.Options{Profile: collectors.ProfileFull})
	cf := f.Clusters[0]
	l := member(t, f, "learner")
	if !l.Reachable || !l.IsLearner || l.Status == nil || !l.Status.IsLearner {
		t.Fatalf("learner: %s", dump(l))
	}
	if l.Health == nil || !l.Health.Healthy || l.V3 == nil || l.V3.Keys != 4 || l.Version == nil || l.Backend == nil {
		t.Errorf("learner facts: %s", dump(l))
	}
	if runState(l.Runs, "member_list") != collectors.RunUnsupported || len(l.Errors) != 0 {
		t.Errorf("learner runs %+v errors %+v", l.Runs, l.Errors)
	}
	if l.Security == nil || l.Security.AuthEnabled != nil {
		t.Errorf("learner security (auth cannot be asked): %+v", l.Security)
	}
	if cs := cf.Consistency; cs == nil || cs.Learners != 1 || cs.VotingMembers != 1 {
		t.Errorf("consistency %+v", cs)
	}
	if h := cf.HashKV; h == nil || h.MembersCompared != 1 || len(cf.Errors) != 0 {
		t.Errorf("hashkv %+v errors %+v", h, cf.Errors)
	}
	if strings.Contains(dump(f), "panic") {
		t.Error("a collector panicked")
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
