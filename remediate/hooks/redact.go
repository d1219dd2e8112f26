package hooks

import (
	"slices"
	"strings"
	"sync"
)

// Redacted replaces a secret wherever it appears.
const Redacted = "[REDACTED]"

// redactor replaces secrets, longest first so a secret containing another is
// replaced whole.
type redactor struct{ secrets []string }

func newRedactor(secrets []string) redactor {
	var s []string
	for _, x := range secrets {
		if x != "" && !slices.Contains(s, x) {
			s = append(s, x)
		}
	}
	slices.SortFunc(s, func(a, b string) int { return len(b) - len(a) })
	return redactor{secrets: s}
}

func (r redactor) redact(s string) string {
	for _, x := range r.secrets {
		s = strings.ReplaceAll(s, x, Redacted)
	}
	return s
}

func (r redactor) redactAll(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = r.redact(a)
	}
	return out
}

// wrap returns err with secrets redacted from its message; errors.Is and As
// still see the original.
func (r redactor) wrap(err error) error {
	msg := err.Error()
	if red := r.redact(msg); red != msg {
		return redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// longest is the length of the longest secret.
func (r redactor) longest() int {
	if len(r.secrets) == 0 {
		return 0
	}
	return len(r.secrets[0])
}

// tail is an io.Writer keeping the last limit bytes written, plus slack
// bytes so a secret cut by the trim is still whole when redacted.
type tail struct {
	mu      sync.Mutex
	buf     []byte
	limit   int
	slack   int
	dropped bool
}

func newTail(limit, slack int) *tail { return &tail{limit: limit, slack: slack} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	// Trim only when well past the cap, so trimming stays amortised.
	if keep := t.limit + t.slack; len(t.buf) > 2*keep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-keep:]...)
		t.dropped = true
	}
	return len(p), nil
}

// text returns the redacted tail and whether earlier output was dropped.
// When output was dropped, the buffer may start with the end of a secret
// whose beginning is gone, which no longer matches: after redacting, the
// first slack bytes go too (the partial secret lies within them, since
// nothing before it was replaced).
func (t *tail) text(r redactor) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := r.redact(string(t.buf))
	dropped := t.dropped
	if dropped {
		s = s[min(t.slack, len(s)):]
	}
	if len(s) > t.limit {
		s = s[len(s)-t.limit:]
		dropped = true
	}
	return strings.ToValidUTF8(s, ""), dropped
}
