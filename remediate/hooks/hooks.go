// Package hooks runs the inventory's host commands for the remediator: stop,
// start, install a binary, change flags, restore a snapshot, stop and start the
// API servers, and the operator's own probe. A hook is an argv list, never a
// shell line; each argument is a Go text/template over Vars, and the same
// values reach the command as ETCDAUDIT_* environment variables. Every run has
// a deadline, after which its whole process group is killed, and its output
// is captured (tail kept, capped) with secrets redacted, so it can go into the
// journal and the plan without leaking the cluster's password.
package hooks

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/etcdaudit/etcdaudit/inventory"
)

// The hooks the remediator knows. The inventory may hold others; a plan
// refuses to run when a step needs one of these and the inventory lacks it.
const (
	StopMember      = "stop_member"
	StartMember     = "start_member"
	InstallVersion  = "install_version"
	SetFlags        = "set_flags"
	RestoreSnapshot = "restore_snapshot"
	StopWriters     = "stop_writers"
	StartWriters    = "start_writers"
	SetBackend      = "set_backend"
	Verify          = "verify"
	// CheckV2Store is optional: before a member's first 3.6 start, with the
	// member stopped, it runs etcd's offline check of the data dir (`etcdutl
	// check v2store`); a failure restarts the member on its old version.
	CheckV2Store = "check_v2store"
)

// Names lists the known hooks in the order the documentation gives them.
var Names = []string{StopMember, StartMember, InstallVersion, SetFlags, RestoreSnapshot, StopWriters, StartWriters, SetBackend, Verify, CheckV2Store}

// DefaultTimeout is the deadline of a hook that DefaultTimeouts does not name.
const DefaultTimeout = 2 * time.Minute

// DefaultTimeouts are the per-hook deadlines used when the inventory sets none:
// downloading and unpacking a release, or restoring a large snapshot, takes
// longer than stopping a service.
var DefaultTimeouts = map[string]time.Duration{
	InstallVersion:  5 * time.Minute,
	RestoreSnapshot: 10 * time.Minute,
	CheckV2Store:    10 * time.Minute, // reads the member's whole WAL
}

// DefaultOutputLimit is how many bytes of a hook's output (stdout and stderr
// interleaved) are kept: the tail, where the error usually is.
const DefaultOutputLimit = 64 << 10

// ErrNoHook is returned when the inventory has no command for a hook.
var ErrNoHook = errors.New("not configured in the inventory")

// Vars are the values a hook's arguments can use ({{.Member}}) and the
// ETCDAUDIT_* environment variables it receives.
type Vars struct {
	Cluster   string // ETCDAUDIT_CLUSTER
	Member    string // ETCDAUDIT_MEMBER: the member's name
	MemberID  string // ETCDAUDIT_MEMBER_ID: hex, as etcdctl prints it
	Host      string // ETCDAUDIT_HOST: host part of the client URL
	ClientURL string // ETCDAUDIT_CLIENT_URL
	PeerURL   string // ETCDAUDIT_PEER_URL

	FromVersion string // ETCDAUDIT_FROM_VERSION, e.g. 3.5.35
	ToVersion   string // ETCDAUDIT_TO_VERSION

	// FlagsAdd are etcd flags to set, "--snapshot-count=5" form; FlagsDrop
	// are flags to remove, by name ("--enable-v2"). In the environment they
	// are one per line (ETCDAUDIT_FLAGS_ADD, ETCDAUDIT_FLAGS_DROP). An
	// argument written exactly "{{.FlagsAdd}}" or "{{.FlagsDrop}}" becomes one
	// argument per flag (none when the list is empty).
	FlagsAdd  []string
	FlagsDrop []string

	Backend  string // ETCDAUDIT_BACKEND: set_backend's target, "etcd3"
	Snapshot string // ETCDAUDIT_SNAPSHOT: restore_snapshot's v3 snapshot file

	RunID string // ETCDAUDIT_RUN_ID: the remediation run
	Step  string // ETCDAUDIT_STEP: the step's stable id
}

// env returns the ETCDAUDIT_* variables for v and the hook name.
func (v Vars) env(hook string) []string {
	kv := [][2]string{
		{"HOOK", hook},
		{"CLUSTER", v.Cluster}, {"MEMBER", v.Member}, {"MEMBER_ID", v.MemberID}, {"HOST", v.Host},
		{"CLIENT_URL", v.ClientURL}, {"PEER_URL", v.PeerURL},
		{"FROM_VERSION", v.FromVersion}, {"TO_VERSION", v.ToVersion},
		{"FLAGS_ADD", strings.Join(v.FlagsAdd, "\n")}, {"FLAGS_DROP", strings.Join(v.FlagsDrop, "\n")},
		{"BACKEND", v.Backend}, {"SNAPSHOT", v.Snapshot},
		{"RUN_ID", v.RunID}, {"STEP", v.Step},
	}
	out := make([]string, len(kv))
	for i, p := range kv {
		out[i] = "ETCDAUDIT_" + p[0] + "=" + p[1]
	}
	return out
}

// Result is one hook run, as the journal keeps it.
type Result struct {
	Name     string        `json:"name"`
	Argv     []string      `json:"argv"`      // redacted
	ExitCode int           `json:"exit_code"` // -1 when killed or not started
	Output   string        `json:"output"`    // stdout+stderr tail, redacted, capped
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	// Truncated says Output is the tail of a longer output.
	Truncated bool `json:"truncated,omitempty"`
}

// Options tune a Runner.
type Options struct {
	// Timeouts override DefaultTimeouts per hook name (the inventory's
	// hook_timeouts).
	Timeouts map[string]time.Duration
	// Secrets are values never shown in argv, output or errors: the
	// cluster's password and anything else the caller knows is secret.
	Secrets []string
	// Env is the environment hooks inherit before the ETCDAUDIT_* variables
	// (nil: the remediator's own).
	Env []string
	// OutputLimit caps the captured output (0: DefaultOutputLimit).
	OutputLimit int
}

// Runner runs one cluster's hooks. It is safe for concurrent use.
type Runner struct {
	hooks inventory.Hooks
	opts  Options
	red   redactor
}

// NewRunner returns a Runner for a cluster's hooks.
func NewRunner(h inventory.Hooks, opts Options) *Runner {
	if opts.OutputLimit <= 0 {
		opts.OutputLimit = DefaultOutputLimit
	}
	return &Runner{hooks: h, opts: opts, red: newRedactor(opts.Secrets)}
}

// Has reports whether the inventory has a command for the hook.
func (r *Runner) Has(name string) bool { return len(r.hooks[name]) > 0 }

// Missing returns the hooks among names the inventory lacks, in order.
func (r *Runner) Missing(names ...string) []string {
	var out []string
	for _, n := range names {
		if !r.Has(n) {
			out = append(out, n)
		}
	}
	return out
}

// Timeout returns the deadline of one run of the hook.
func (r *Runner) Timeout(name string) time.Duration {
	if d := r.opts.Timeouts[name]; d > 0 {
		return d
	}
	if d := DefaultTimeouts[name]; d > 0 {
		return d
	}
	return DefaultTimeout
}

// Render returns the hook's argv for v with secrets redacted: what a plan
// shows. A template error names the hook, the argument and the field.
func (r *Runner) Render(name string, v Vars) ([]string, error) {
	argv, err := r.render(name, v)
	if err != nil {
		return nil, r.red.wrap(err)
	}
	return r.red.redactAll(argv), nil
}

// Check renders every configured hook with sample values, so a typo in a
// template ({{.Membr}}) is found when a plan is made, not mid-run.
func (r *Runner) Check() error {
	sample := Vars{Cluster: "c", Member: "m", MemberID: "1", Host: "h", ClientURL: "http://h:2379", PeerURL: "http://h:2380",
		FromVersion: "3.5.0", ToVersion: "3.6.0", FlagsAdd: []string{"--a=1"}, FlagsDrop: []string{"--b"},
		Backend: "etcd3", Snapshot: "/s.db", RunID: "r", Step: "s"}
	var errs []error
	for name := range r.hooks {
		if _, err := r.Render(name, sample); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// listArgs are the arguments that expand to one argument per list element.
var listArgs = map[string]func(Vars) []string{
	"{{.FlagsAdd}}":  func(v Vars) []string { return v.FlagsAdd },
	"{{.FlagsDrop}}": func(v Vars) []string { return v.FlagsDrop },
}

var funcs = template.FuncMap{"join": strings.Join}

// render expands the hook's templates, unredacted: what actually runs.
func (r *Runner) render(name string, v Vars) ([]string, error) {
	tmpl, ok := r.hooks[name]
	if !ok || len(tmpl) == 0 {
		return nil, fmt.Errorf("hook %s: %w", name, ErrNoHook)
	}
	argv := make([]string, 0, len(tmpl))
	for i, a := range tmpl {
		if expand, ok := listArgs[strings.ReplaceAll(a, " ", "")]; ok && i > 0 {
			argv = append(argv, expand(v)...)
			continue
		}
		t, err := template.New(fmt.Sprintf("%s[%d]", name, i)).Funcs(funcs).Option("missingkey=error").Parse(a)
		if err != nil {
			return nil, fmt.Errorf("hook %s: argument %d %q: %w", name, i, a, err)
		}
		var b strings.Builder
		if err := t.Execute(&b, v); err != nil {
			return nil, fmt.Errorf("hook %s: argument %d %q: %w", name, i, a, err)
		}
		argv = append(argv, b.String())
	}
	if argv[0] == "" {
		return nil, fmt.Errorf("hook %s: the command (argument 0 %q) renders empty", name, tmpl[0])
	}
	return argv, nil
}
