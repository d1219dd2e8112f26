package hooks_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/remediate/hooks"
)

var vars = hooks.Vars{
	Cluster: "prod-a", Member: "m1", MemberID: "8e9e05c52164694d", Host: "10.0.0.2",
	ClientURL: "https://10.0.0.2:2379", PeerURL: "https://10.0.0.2:2380",
	FromVersion: "3.5.35", ToVersion: "3.6.16",
	FlagsAdd: []string{"--snapshot-count=5", "--quota-backend-bytes=8589934592"}, FlagsDrop: []string{"--enable-v2"},
	RunID: "r1", Step: "upgrade/m1/3.6",
}

func TestRenderTemplatesListsAndSecrets(t *testing.T) {
	r := hooks.NewRunner(inventory.Hooks{
		hooks.InstallVersion: {"ssh", "{{.Host}}", "install-etcd", "v{{.ToVersion}}", "--token=s3cret-pw"},
		hooks.SetFlags:       {"ssh", "{{.Host}}", "etcd-flags", "{{.Member}}", "--add", "{{.FlagsAdd}}", "--drop", "{{ .FlagsDrop }}", "{{join .FlagsAdd \",\"}}"},
	}, hooks.Options{Secrets: []string{"s3cret-pw"}})
	got, err := r.Render(hooks.InstallVersion, vars)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ssh", "10.0.0.2", "install-etcd", "v3.6.16", "--token=" + hooks.Redacted}; !slices.Equal(got, want) {
		t.Errorf("install_version: %q, want %q", got, want)
	}
	got, err = r.Render(hooks.SetFlags, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ssh", "10.0.0.2", "etcd-flags", "m1", "--add", "--snapshot-count=5", "--quota-backend-bytes=8589934592",
		"--drop", "--enable-v2", "--snapshot-count=5,--quota-backend-bytes=8589934592"}
	if !slices.Equal(got, want) {
		t.Errorf("set_flags: %q, want %q", got, want)
	}
	noFlags := vars
	noFlags.FlagsAdd = nil
	if got, _ = r.Render(hooks.SetFlags, noFlags); got[5] != "--drop" {
		t.Errorf("an empty list must expand to no argument: %q", got)
	}
}

func TestTemplateErrorNamesHookAndField(t *testing.T) {
	r := hooks.NewRunner(inventory.Hooks{
		hooks.StopMember:  {"systemctl", "stop", "etcd@{{.Membr}}"},
		hooks.StartMember: {"systemctl", "start", "etcd@{{.Member"},
	}, hooks.Options{})
	_, err := r.Render(hooks.StopMember, vars)
	if err == nil || !strings.Contains(err.Error(), "hook stop_member") || !strings.Contains(err.Error(), "Membr") {
		t.Errorf("unknown field: %v, want the hook and the field named", err)
	}
	if _, err := r.Run(t.Context(), hooks.StartMember, vars); err == nil || !strings.Contains(err.Error(), "hook start_member: argument 2") {
		t.Errorf("unclosed action: %v", err)
	}
	if err := r.Check(); err == nil || !strings.Contains(err.Error(), "stop_member") || !strings.Contains(err.Error(), "start_member") {
		t.Errorf("Check: %v, want both hooks named", err)
	}
	if err := hooks.NewRunner(inventory.Hooks{hooks.Verify: {"true", "{{.Snapshot}}"}}, hooks.Options{}).Check(); err != nil {
		t.Errorf("Check of a valid hook: %v", err)
	}
}

func TestMissingHook(t *testing.T) {
	r := hooks.NewRunner(inventory.Hooks{hooks.StopMember: {"true"}}, hooks.Options{})
	if r.Has(hooks.SetBackend) || !r.Has(hooks.StopMember) {
		t.Error("Has")
	}
	if m := r.Missing(hooks.StopMember, hooks.StartMember, hooks.Verify); !slices.Equal(m, []string{hooks.StartMember, hooks.Verify}) {
		t.Errorf("Missing: %q", m)
	}
	_, err := r.Run(t.Context(), hooks.SetBackend, vars)
	if !errors.Is(err, hooks.ErrNoHook) || !strings.Contains(err.Error(), "set_backend") {
		t.Errorf("Run of a missing hook: %v", err)
	}
}

// TestRunEnvOutputExit runs real commands: the ETCDAUDIT_* variables reach
// the hook, stdout and stderr are captured, a non-zero exit is an error
// naming the hook with its last output line, and the password never shows.
func TestRunEnvOutputExit(t *testing.T) {
	pw := "hunter2-" + strconv.Itoa(os.Getpid())
	r := hooks.NewRunner(inventory.Hooks{
		hooks.Verify:     {"sh", "-c", `echo "member=$ETCDAUDIT_MEMBER to=$ETCDAUDIT_TO_VERSION hook=$ETCDAUDIT_HOOK"; printf '%s\n' "$ETCDAUDIT_FLAGS_ADD"; echo "pw=$1" >&2`, "sh", pw},
		hooks.StopMember: {"sh", "-c", `echo stopping; echo "cannot stop {{.Member}}: unit not found" >&2; exit 3`},
	}, hooks.Options{Secrets: []string{pw}, Env: append(os.Environ(), "ETCDAUDIT_MEMBER=stale")})
	res, err := r.Run(t.Context(), hooks.Verify, vars)
	if err != nil {
		t.Fatalf("verify: %v (output %q)", err, res.Output)
	}
	want := "member=m1 to=3.6.16 hook=verify\n--snapshot-count=5\n--quota-backend-bytes=8589934592\npw=" + hooks.Redacted + "\n"
	if res.Output != want || res.ExitCode != 0 || res.Duration <= 0 || res.Started.IsZero() {
		t.Errorf("verify result %+v, want output %q", res, want)
	}
	if slices.ContainsFunc(res.Argv, func(a string) bool { return strings.Contains(a, pw) }) {
		t.Errorf("argv not redacted: %q", res.Argv)
	}
	res, err = r.Run(t.Context(), hooks.StopMember, vars)
	if err == nil || res.ExitCode != 3 {
		t.Fatalf("stop_member: err %v, exit %d, want exit 3", err, res.ExitCode)
	}
	if msg := err.Error(); !strings.Contains(msg, "hook stop_member") || !strings.Contains(msg, "exit status 3") || !strings.Contains(msg, "cannot stop m1") {
		t.Errorf("error %q must name the hook, the exit and the last output line", msg)
	}
	if res.Output != "stopping\ncannot stop m1: unit not found\n" {
		t.Errorf("output %q", res.Output)
	}
}

// TestNoShell: a template value with shell syntax is one literal argument.
func TestNoShell(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	v := vars
	v.Member = "m1; touch " + marker
	r := hooks.NewRunner(inventory.Hooks{hooks.StopMember: {"echo", "{{.Member}}", "$(touch " + marker + ")"}}, hooks.Options{})
	res, err := r.Run(t.Context(), hooks.StopMember, v)
	if err != nil {
		t.Fatal(err)
	}
	if want := v.Member + " $(touch " + marker + ")\n"; res.Output != want {
		t.Errorf("output %q, want %q", res.Output, want)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a shell ran the hook")
	}
	if _, err := hooks.NewRunner(inventory.Hooks{hooks.Verify: {"/nonexistent/probe"}}, hooks.Options{}).Run(t.Context(), hooks.Verify, v); err == nil || !strings.Contains(err.Error(), "hook verify: start /nonexistent/probe") {
		t.Errorf("missing command: %v", err)
	}
}

// TestDeadlineKillsProcessGroup: at the deadline the hook and what it
// started (a background sleep that inherits the output pipe) are killed.
func TestDeadlineKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := hooks.NewRunner(inventory.Hooks{
		hooks.InstallVersion: {"sh", "-c", `sleep 300 & echo $! > ` + pidFile + `; echo started; wait`},
	}, hooks.Options{Timeouts: map[string]time.Duration{hooks.InstallVersion: 500 * time.Millisecond}})
	if d := r.Timeout(hooks.InstallVersion); d != 500*time.Millisecond {
		t.Fatalf("Timeout %s", d)
	}
	if d := hooks.NewRunner(nil, hooks.Options{}).Timeout(hooks.InstallVersion); d != 5*time.Minute {
		t.Errorf("default install_version deadline %s", d)
	}
	res, err := r.Run(t.Context(), hooks.InstallVersion, vars)
	if err == nil || !strings.Contains(err.Error(), "hook install_version: deadline 500ms exceeded, process group killed: started") {
		t.Fatalf("err %v", err)
	}
	if res.ExitCode != -1 || res.Output != "started\n" {
		t.Errorf("result %+v", res)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d of the hook survived the deadline", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The caller's context ends the hook the same way.
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	if _, err := r.Run(ctx, hooks.InstallVersion, vars); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("canceled run: %v", err)
	}
}

// TestOutputCappedAndRedacted: a long output keeps its tail, capped, and a
// secret repeated across the trim points never shows, not even in part.
func TestOutputCappedAndRedacted(t *testing.T) {
	secret := "Pa55-word-that-is-long"
	script := fmt.Sprintf(`i=0; while [ $i -lt 3000 ]; do printf 'line %%05d %s x\n' $i; i=$((i+1)); done; echo last line`, secret)
	r := hooks.NewRunner(inventory.Hooks{hooks.Verify: {"sh", "-c", script}}, hooks.Options{Secrets: []string{secret}, OutputLimit: 1000})
	res, err := r.Run(t.Context(), hooks.Verify, vars)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || len(res.Output) > 1000 || !strings.HasSuffix(res.Output, "line 02999 "+hooks.Redacted+" x\nlast line\n") {
		t.Errorf("truncated %v, %d bytes, tail %q", res.Truncated, len(res.Output), res.Output[max(0, len(res.Output)-80):])
	}
	for n := 4; n <= len(secret); n++ {
		for i := 0; i+n <= len(secret); i++ {
			if part := secret[i : i+n]; strings.Contains(res.Output, part) {
				t.Fatalf("output holds %q, part of the secret: head %q", part, res.Output[:80])
			}
		}
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return syscall.Kill(pid, 0) == nil
}

// TestDaemonKeepsOutputOpen: a hook that starts a background process which
// keeps the output pipe open succeeds once it exits 0, after the wait
// delay, and the background process is left running (start hooks start
// daemons).
func TestDaemonKeepsOutputOpen(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := hooks.NewRunner(inventory.Hooks{
		hooks.StartMember: {"sh", "-c", `sleep 60 & echo $! > ` + pidFile + `; echo started`},
	}, hooks.Options{})
	res, err := r.Run(t.Context(), hooks.StartMember, vars)
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if err != nil || res.ExitCode != 0 || !strings.HasPrefix(res.Output, "started\n") || !strings.Contains(res.Output, "keeps it open") {
		t.Fatalf("err %v, result %+v", err, res)
	}
	if pid == 0 || !alive(pid) {
		t.Errorf("the hook's background process %d was killed", pid)
	}
}
