package hooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// waitDelay bounds how long Run waits for the output pipes after the hook
// exited or was killed: a process the hook started (a daemon, or one that
// left the process group) may hold them open forever.
const waitDelay = 5 * time.Second

// Run executes the hook for v and waits for it, at most its deadline (or ctx's,
// whichever comes first). At the deadline the hook's whole process group gets
// SIGKILL. A non-zero exit, a deadline or a failure to start is an error
// naming the hook; the Result is filled in every case that got as far as
// rendering, so the journal can keep what happened.
func (r *Runner) Run(ctx context.Context, name string, v Vars) (Result, error) {
	res := Result{Name: name, ExitCode: -1, Started: time.Now()}
	argv, err := r.render(name, v)
	if err != nil {
		return res, r.red.wrap(err)
	}
	res.Argv = r.red.redactAll(argv)
	timeout := r.Timeout(name)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	out := newTail(r.opts.OutputLimit, r.red.longest())
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	env := r.opts.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(withoutOurs(env), v.env(name)...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so the deadline kills what the hook started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay

	err = cmd.Run()
	res.Duration = time.Since(res.Started)
	res.Output, res.Truncated = out.text(r.red)
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, exec.ErrWaitDelay) && res.ExitCode == 0:
		// The hook succeeded and left a process holding its output open (a
		// daemon it started without redirecting it): not a failure, and the
		// daemon is left running.
		res.Output += fmt.Sprintf("\n[etcdaudit: output not read past %s after the hook exited: a process it started keeps it open]\n", waitDelay)
		return res, nil
	case ctx.Err() != nil && cmd.ProcessState != nil:
		// The process group is gone too (Cancel killed it).
		cause := fmt.Sprintf("deadline %s exceeded, process group killed", timeout)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) || time.Since(res.Started) < timeout {
			cause = "canceled (" + context.Cause(ctx).Error() + "), process group killed"
		}
		return res, fmt.Errorf("hook %s: %s%s", name, cause, lastLine(res.Output))
	case cmd.ProcessState == nil:
		return res, fmt.Errorf("hook %s: start %s: %s", name, res.Argv[0], r.red.redact(err.Error()))
	default:
		return res, fmt.Errorf("hook %s: %s%s", name, r.red.redact(err.Error()), lastLine(res.Output))
	}
}

// withoutOurs drops inherited ETCDAUDIT_* variables, so a hook never sees a
// stale value from an outer run next to the ones this run sets.
func withoutOurs(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "ETCDAUDIT_") {
			out = append(out, kv)
		}
	}
	return out
}

// lastLine returns ": <last non-empty line>" of the output, for error
// messages, or "" when there is none.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n \t"), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if l == "" {
		return ""
	}
	if len(l) > 300 {
		l = l[:300] + "…"
	}
	return ": " + l
}
