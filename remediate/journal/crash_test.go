package journal_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/remediate/hooks"
	"github.com/etcdaudit/etcdaudit/remediate/journal"
)

const crashEnv = "ETCDAUDIT_JOURNAL_CRASH_DIR"

// TestCrashStepperChild is TestKill9BetweenSteps' child: it records one run
// and its steps as fast as it can, printing each step once PutStep returned.
func TestCrashStepperChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of TestKill9BetweenSteps")
	}
	run := os.Getenv(crashEnv + "_RUN")
	j, err := journal.Open(dir)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	if err := j.CreateRun(journal.Run{ID: run, Status: journal.RunRunning, Started: time.Now()}); err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	out := strings.Repeat("hook output line\n", 200) // records of a realistic size
	for i := 0; ; i++ {
		for _, status := range []string{journal.StepRunning, journal.StepDone} {
			s := journal.StepRecord{RunID: run, Index: i, Key: fmt.Sprintf("c/step/%d", i), Status: status, Started: time.Now(),
				Hooks: []hooks.Result{{Name: hooks.StopMember, Argv: []string{"stop"}, Output: out}}}
			if err := j.PutStep(s); err != nil {
				fmt.Println("ERR", err)
				os.Exit(3)
			}
			fmt.Printf("OK %d %s\n", i, status)
		}
	}
}

// TestKill9BetweenSteps kills a child recording steps at varying moments,
// several times over one journal, and checks after each kill that the file
// is consistent and holds every step the child reported as recorded, with
// at least the status it reported.
func TestKill9BetweenSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writer processes")
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for round := range 6 {
		runID := "run-" + strconv.Itoa(round)
		cmd := exec.Command(exe, "-test.run=^TestCrashStepperChild$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, crashEnv+"_RUN="+runID)
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		reported := map[int]string{} // index -> last status reported recorded
		sc := bufio.NewScanner(pipe)
		want := 5 + 7*round
		for n := 0; n < want && sc.Scan(); n++ {
			line := sc.Text()
			if strings.HasPrefix(line, "ERR") {
				t.Fatalf("child: %s", line)
			}
			var i int
			var status string
			if _, err := fmt.Sscanf(line, "OK %d %s", &i, &status); err == nil {
				reported[i] = status
			}
		}
		time.Sleep(time.Duration(round*3) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		for sc.Scan() { // lines already written before the kill
			var i int
			var status string
			if _, err := fmt.Sscanf(sc.Text(), "OK %d %s", &i, &status); err == nil {
				reported[i] = status
			}
		}
		if err := cmd.Wait(); err == nil || err.(*exec.ExitError).Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v, want SIGKILL", round, err)
		}
		if len(reported) == 0 {
			t.Fatalf("round %d: the child reported nothing", round)
		}

		j, err := journal.OpenReadOnly(dir)
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		if err := j.Check(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		steps, err := j.Steps(runID)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		got := map[int]string{}
		for _, s := range steps {
			got[s.Index] = s.Status
		}
		for i, status := range reported {
			if g, ok := got[i]; !ok || (status == journal.StepDone && g != journal.StepDone) {
				t.Errorf("round %d: step %d reported %s, journal has %q", round, i, status, g)
			}
		}
		runs, err := j.Runs()
		if err != nil || len(runs) != round+1 {
			t.Fatalf("round %d: runs %d, %v", round, len(runs), err)
		}
	}
}
