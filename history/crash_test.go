package history

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/history/historytest"
)

const crashDirEnv = "ETCDAUDIT_HISTORY_CRASH_DIR"

// TestCrashWriterChild is the child of TestKill9DuringWrite: it records
// scans as fast as it can, printing each id once committed, until killed.
func TestCrashWriterChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestKill9DuringWrite")
	}
	first, _ := strconv.Atoi(os.Getenv(crashDirEnv + "_DAY"))
	for i := first; ; i++ { // days keep rising across children: retention prunes by start time
		rep := historytest.Report(historytest.Spec{Clusters: 40, Day: i, Seed: uint64(time.Now().UnixNano())})
		rep.ScanID = fmt.Sprintf("%d-%d", os.Getpid(), i)
		if _, err := Record(context.Background(), dir, rep, WithRetention(Retention{Keep: 25})); err != nil {
			fmt.Println("ERR", err)
			os.Exit(3)
		}
		fmt.Println("OK", rep.ScanID)
	}
}

// TestKill9DuringWrite kills a writing process at random points, many
// times, and checks after each kill that the file is consistent: every
// indexed scan reads back whole, and every scan the child reported as
// committed is there (unless retention pruned it).
func TestKill9DuringWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writer processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	committed := map[string]bool{}
	var order []string // committed ids, oldest first
	for round := 0; round < 8; round++ {
		cmd := exec.Command(exe, "-test.run=^TestCrashWriterChild$", "-test.v")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("%s_DAY=%d", crashDirEnv, 1000*round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1000)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Let it commit a few scans, then kill it at a varying moment.
		var last []string
		deadline := time.After(30 * time.Second)
	wait:
		for n := 0; n < 3+round%3; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("writer exited early: %v", last)
				}
				last = append(last, l)
				if strings.HasPrefix(l, "ERR") {
					t.Fatalf("writer: %s", l)
				}
				if id, ok := strings.CutPrefix(l, "OK "); ok {
					committed[id] = true
					order = append(order, id)
					n++
				}
			case <-deadline:
				break wait
			}
		}
		time.Sleep(time.Duration(round*7%23) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		for l := range lines {
			if id, ok := strings.CutPrefix(l, "OK "); ok {
				committed[id] = true
				order = append(order, id)
			}
		}
		_ = cmd.Wait()

		s, err := Open(ctx, dir, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if err := s.Check(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		list, err := s.List(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		present := map[string]bool{}
		for _, e := range list {
			present[e.ID] = true
			rep, err := s.Get(ctx, e.ID)
			if err != nil {
				t.Fatalf("round %d: scan %s torn: %v", round, e.ID, err)
			}
			if rep.ScanID != e.ID || rep.Facts == nil || len(rep.Facts.Clusters) != 40 || len(rep.Results) != e.Counts.Total {
				t.Fatalf("round %d: scan %s read back incomplete", round, e.ID)
			}
		}
		// Retention keeps 25: the newest committed scans must all be there.
		// At most one more may be: committed, killed before it said so.
		if len(list) == 0 || len(list) > 25 {
			t.Fatalf("round %d: %d scans", round, len(list))
		}
		for _, id := range order[max(0, len(order)-24):] {
			if !present[id] {
				t.Fatalf("round %d: committed scan %s lost", round, id)
			}
		}
		unknown := 0
		for id := range present {
			if !committed[id] {
				unknown++
			}
		}
		if unknown > 1 {
			t.Fatalf("round %d: %d scans nobody committed", round, unknown)
		}
		t.Logf("round %d: %d scans in the file, %d committed so far", round, len(list), len(committed))
	}
}
