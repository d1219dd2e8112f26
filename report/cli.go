package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/etcdaudit/etcdaudit/results"
)

// cliReporter prints what an operator reads after a scan: fleet, then each
// cluster and its members, worst results first with their messages, passes
// folded into a count unless verbose, and one summary line.
type cliReporter struct{ opts Options }

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
)

// statusStyle is the symbol, short word and colour of each status; the word
// keeps the output readable without colour and greppable.
var statusStyle = map[results.Status]struct{ sym, word, color string }{
	results.Passed:  {"✓", "PASS", "\x1b[32m"},
	results.Failed:  {"✗", "FAIL", "\x1b[31m"},
	results.Error:   {"!", "ERROR", "\x1b[35m"},
	results.Skipped: {"↷", "SKIP", "\x1b[33m"},
	results.Waived:  {"~", "WAIVED", "\x1b[36m"},
}

func (c *cliReporter) Render(w io.Writer, r *results.Report) error {
	v := newView(r)
	p := &cliPrinter{
		w:     bufio.NewWriter(w),
		color: useColor(c.opts.Color, w),
		width: c.opts.Width,
	}
	if p.width <= 20 {
		p.width = termWidth(w)
	}
	head := fmt.Sprintf("etcdaudit scan %s", termSafe(r.ScanID))
	if r.Inventory != "" {
		head += " · inventory " + termSafe(r.Inventory)
	}
	if !r.StartedAt.IsZero() {
		head += " · " + r.StartedAt.UTC().Format("2006-01-02 15:04:05Z")
	}
	p.wrap(0, "  ", p.style(ansiBold, head))
	if len(v.fleet) > 0 {
		p.blank()
		p.line(0, p.style(ansiBold, "fleet"))
		c.results(p, v, 1, v.fleet)
	}
	for _, cl := range v.clusters {
		p.blank()
		head := "cluster " + termSafe(cl.Name)
		if cl.Facts != nil {
			var labels []string
			for _, k := range sortedKeys(cl.Facts.Labels) {
				labels = append(labels, termSafe(k+"="+cl.Facts.Labels[k]))
			}
			if len(labels) > 0 {
				head += " (" + strings.Join(labels, ", ") + ")"
			}
		}
		if cl.Counts.Total > 0 && cl.Counts.Passed == cl.Counts.Total && !c.opts.Verbose {
			p.wrap(0, "  ", p.style(ansiBold, head)+" "+p.status(results.Passed,
				fmt.Sprintf("%s all %d results passed (%d members)", statusStyle[results.Passed].sym, cl.Counts.Total, len(cl.Members))))
			continue
		}
		p.wrap(0, "  ", p.style(ansiBold, head))
		if cl.Facts != nil && cl.Facts.DiscoveryErr != "" {
			p.wrap(2, "  ", p.status(results.Error, "discovery: "+termSafe(cl.Facts.DiscoveryErr)))
		}
		c.results(p, v, 1, cl.Results)
		var clean []string
		for _, m := range cl.Members {
			if !c.opts.Verbose && m.Counts.Total > 0 && m.Counts.Passed == m.Counts.Total && (m.Facts == nil || m.Facts.Reachable) {
				clean = append(clean, termSafe(m.Name))
				continue
			}
			head := "member " + termSafe(m.Name)
			if m.Facts != nil {
				var bits []string
				if m.Facts.Version != nil && m.Facts.Version.Server != "" {
					bits = append(bits, "v"+termSafe(m.Facts.Version.Server))
				}
				if !m.Facts.Reachable {
					bits = append(bits, "unreachable")
				}
				if len(bits) > 0 {
					head += " (" + strings.Join(bits, ", ") + ")"
				}
			}
			p.wrap(2, "  ", head)
			c.results(p, v, 2, m.Results)
		}
		if len(clean) > 0 {
			p.wrap(2, "  ", p.status(results.Passed, fmt.Sprintf("%s %d members passed everything: %s",
				statusStyle[results.Passed].sym, len(clean), strings.Join(clean, ", "))))
		}
	}
	p.blank()
	p.wrap(0, "", summaryLine(p, summaryOf(r).Overall, r))
	if line := profileSkips(r); line != "" {
		p.wrap(0, "  ", p.status(results.Skipped, termSafe(line)))
	}
	return p.w.Flush()
}

// results prints one subject's results: failures, errors, skips and waivers
// one by one with their reasons; passes as one folded line unless verbose.
func (c *cliReporter) results(p *cliPrinter, v *view, depth int, rs []results.Result) {
	sorted := slices.Clone(rs)
	slices.SortStableFunc(sorted, func(a, b results.Result) int { return b.Status.Severity() - a.Status.Severity() })
	ind := depth * 2
	var passed []string
	for _, r := range sorted {
		if r.Status == results.Passed && !c.opts.Verbose {
			passed = append(passed, termSafe(r.Control))
			continue
		}
		st := statusStyle[r.Status]
		word := st.word
		if word == "" {
			word = strings.ToUpper(termSafe(string(r.Status)))
		}
		label := fmt.Sprintf("%s %-6s %s  %s", st.sym, word, termSafe(r.Control), termSafe(v.title(r.Control)))
		p.wrap(ind, strings.Repeat(" ", 9), p.status(r.Status, label))
		for _, m := range r.Messages {
			p.wrap(ind+4, "  ", "- "+termSafe(clip(m)))
		}
		if wv := r.Waiver; wv != nil {
			p.wrap(ind+4, "  ", "waived: "+termSafe(wv.Justification)+expiry(wv))
		}
		if wv := r.ExpiredWaiver; wv != nil {
			p.wrap(ind+4, "  ", p.style(statusStyle[results.Failed].color, "waiver expired"+expiry(wv)+": "+termSafe(wv.Justification)))
		}
	}
	if len(passed) > 0 {
		st := statusStyle[results.Passed]
		p.wrap(ind, "  ", p.status(results.Passed, fmt.Sprintf("%s %d passed: %s", st.sym, len(passed), strings.Join(passed, ", "))))
	}
}

// maxCLIMessage bounds one message on the terminal; the other formats keep
// it whole.
const maxCLIMessage = 2000

func clip(m string) string {
	if len(m) <= maxCLIMessage {
		return m
	}
	cut := maxCLIMessage
	for cut > 0 && !utf8.RuneStart(m[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes; see the json report)", m[:cut], len(m)-cut)
}

func expiry(w *results.Waiver) string {
	if w.Expires == nil {
		return " (no expiry)"
	}
	return " (expires " + w.Expires.UTC().Format("2006-01-02") + ")"
}

func summaryLine(p *cliPrinter, c results.Counts, r *results.Report) string {
	parts := []string{}
	for _, s := range results.Statuses {
		n := countOf(c, s)
		part := fmt.Sprintf("%d %s", n, s)
		if n > 0 {
			part = p.status(s, part)
		}
		parts = append(parts, part)
	}
	line := fmt.Sprintf("%d results: %s", c.Total, strings.Join(parts, ", "))
	if d := duration(r); d > 0 {
		line += fmt.Sprintf(" in %s", d.Round(10*time.Millisecond))
	}
	return line
}

func countOf(c results.Counts, s results.Status) int {
	switch s {
	case results.Passed:
		return c.Passed
	case results.Failed:
		return c.Failed
	case results.Error:
		return c.Error
	case results.Skipped:
		return c.Skipped
	case results.Waived:
		return c.Waived
	}
	return 0
}

// useColor decides colour once per render: always/never as asked; in auto
// mode only for a terminal and never when NO_COLOR is set (no-color.org:
// present and non-empty).
func useColor(m ColorMode, w io.Writer) bool {
	switch m {
	case ColorAlways:
		return true
	case ColorNever:
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// termWidth is the terminal's width when w is one (clamped to 40–160, so a
// huge window still gets readable lines), and 80 otherwise: files, pipes and
// CI logs get lines that fit a standard terminal.
func termWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return min(max(cols, 40), 160)
		}
	}
	return 80
}

// termSafe makes a fleet value safe to print on a terminal: a key or member
// name may hold escape sequences or newlines, which would otherwise recolour,
// move the cursor, or forge lines of the report.
func termSafe(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || isBidi(r) }) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case unicode.IsControl(r) || isBidi(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// isBidi reports Unicode bidirectional overrides, which can make a printed
// name read differently from what it is ("Trojan Source").
func isBidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f
}

// cliPrinter wraps lines to the terminal width, counting runes of visible
// text (ANSI sequences are added after wrapping).
type cliPrinter struct {
	w     *bufio.Writer
	color bool
	width int
}

func (p *cliPrinter) style(code, s string) string {
	if !p.color || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (p *cliPrinter) status(s results.Status, text string) string {
	return p.style(statusStyle[s].color, text)
}

func (p *cliPrinter) blank() { p.w.WriteString("\n") }

func (p *cliPrinter) line(indent int, s string) {
	p.w.WriteString(strings.Repeat(" ", indent) + s + "\n")
}

// wrap prints s at indent, continuing overlong lines at indent+len(hang).
// Widths count visible runes only: ANSI sequences are zero-width and a word
// holding one is never split, so colours survive wrapping.
func (p *cliPrinter) wrap(indent int, hang, s string) {
	width := p.width - indent
	if width < 20 {
		width = 20
	}
	for i, l := range wrapText(s, width, width-len(hang)) {
		ind := indent
		if i > 0 {
			ind += len(hang)
		}
		p.line(ind, l)
	}
}

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;]*m")

func visible(s string) int { return utf8.RuneCountInString(ansiRE.ReplaceAllString(s, "")) }

// wrapText breaks s at spaces into lines of at most first visible runes (then
// rest), hard-breaking plain words longer than a line (long keys, URLs).
func wrapText(s string, first, rest int) []string {
	if rest < 10 {
		rest = 10
	}
	var out []string
	var cur strings.Builder
	curW, limit := 0, first
	flush := func() {
		out = append(out, cur.String())
		cur.Reset()
		curW, limit = 0, rest
	}
	for _, word := range strings.Split(s, " ") {
		w := visible(word)
		if curW > 0 && curW+1+w > limit {
			flush()
		}
		if w > limit && !strings.Contains(word, "\x1b") {
			if curW > 0 {
				flush()
			}
			r := []rune(word)
			for len(r) > limit {
				cur.WriteString(string(r[:limit]))
				flush()
				r = r[limit:]
			}
			word, w = string(r), len(r)
		}
		if curW > 0 {
			cur.WriteByte(' ')
			curW++
		}
		cur.WriteString(word)
		curW += w
	}
	if cur.Len() > 0 || len(out) == 0 {
		out = append(out, cur.String())
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
