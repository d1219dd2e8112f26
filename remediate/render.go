package remediate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
)

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiDim    = "\x1b[2m"
)

// WriteJSON writes the plan as indented JSON.
func WriteJSON(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// RenderText writes the plan for people: per cluster its facts, its
// refusal or its numbered steps with hooks, conditions and backups.
func RenderText(w io.Writer, p *Plan, color bool) error {
	bw := bufio.NewWriter(w)
	st := func(code, s string) string {
		if !color || s == "" {
			return s
		}
		return code + s + ansiReset
	}
	fmt.Fprintf(bw, "%s target %s (%s)\n", st(ansiBold, "etcdaudit remediation plan"), safe(p.Target), p.CreatedAt.Format(time.RFC3339))
	total, steps := time.Duration(0), 0
	for _, c := range p.Clusters {
		fmt.Fprintln(bw)
		head := "cluster " + safe(c.Name)
		if c.Tier != "" {
			head += " (tier " + safe(c.Tier) + ")"
		}
		fmt.Fprintf(bw, "%s  %s\n", st(ansiBold, head), st(ansiDim, c.Fingerprint))
		fmt.Fprintf(bw, "  now: %s\n", describeFacts(c.Facts))
		if len(c.Controls) > 0 {
			fmt.Fprintf(bw, "  failing: %s\n", strings.Join(c.Controls, ", "))
		}
		for _, n := range c.NotPlanned {
			fmt.Fprintf(bw, "  %s %s (%s): %s\n", st(ansiYellow, "not planned"), n.Control, n.Action, safe(n.Reason))
		}
		for _, wn := range c.Warnings {
			fmt.Fprintf(bw, "  %s %s\n", st(ansiYellow, "warning:"), safe(wn))
		}
		switch {
		case c.Refused != "":
			fmt.Fprintf(bw, "  %s %s\n", st(ansiRed, "REFUSED:"), safe(c.Refused))
			continue
		case len(c.Steps) == 0:
			fmt.Fprintf(bw, "  %s\n", st(ansiGreen, "nothing to do"))
			continue
		}
		var ct time.Duration
		for i, s := range c.Steps {
			ct += time.Duration(s.Expected)
			line := fmt.Sprintf("%2d. %s", i+1, st(ansiCyan, s.Kind))
			if s.Member != "" {
				line += " " + safe(s.Member)
			}
			if s.From != "" && s.To != "" && s.From != s.To {
				line += fmt.Sprintf(" %s -> %s", safe(s.From), safe(s.To))
			}
			fmt.Fprintf(bw, "  %s  %s\n", line, st(ansiDim, "~"+fmtDur(time.Duration(s.Expected))))
			fmt.Fprintf(bw, "      %s\n", safe(s.Description))
			for _, f := range s.FlagsDrop {
				fmt.Fprintf(bw, "      flag off: %s\n", safe(f))
			}
			for _, f := range s.FlagsAdd {
				fmt.Fprintf(bw, "      flag on:  %s\n", safe(f))
			}
			for _, c := range s.Preconditions {
				fmt.Fprintf(bw, "      before: %s\n", safe(c))
			}
			for _, h := range s.Hooks {
				fmt.Fprintf(bw, "      run %s: %s\n", h.Name, quoteArgv(h.Argv))
			}
			for _, c := range s.Postconditions {
				fmt.Fprintf(bw, "      after:  %s\n", safe(c))
			}
			if s.Backup != "" {
				fmt.Fprintf(bw, "      backup: %s\n", safe(s.Backup))
			}
		}
		fmt.Fprintf(bw, "  %d steps, about %s; motivated by %s\n", len(c.Steps), fmtDur(ct), strings.Join(c.Steps[0].Controls, ", "))
		total += ct
		steps += len(c.Steps)
	}
	if steps == 0 {
		fmt.Fprintf(bw, "\nNothing to apply in %d clusters. Nothing has been changed.\n", len(p.Clusters))
		return bw.Flush()
	}
	fmt.Fprintf(bw, "\n%d steps in %d clusters, about %s. Nothing has been changed. Review it, then:\n  etcdaudit remediate apply -f FLEET --plan PLAN.json --approve --state-dir DIR\n", steps, len(p.Clusters), fmtDur(total))
	return bw.Flush()
}

func describeFacts(f FactsSummary) string {
	var ms []string
	for _, m := range f.Members {
		s := safe(m.Name) + " " + orNone(safe(m.Version))
		if m.Name == f.Leader {
			s += " (leader)"
		}
		if m.V2Keys > 0 {
			s += fmt.Sprintf(" v2:%d", m.V2Keys)
		}
		ms = append(ms, s)
	}
	return fmt.Sprintf("cluster version %s; %s", orNone(safe(f.ClusterVersion)), strings.Join(ms, ", "))
}

func fmtDur(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// quoteArgv shows an argv the way a shell would need it typed.
func quoteArgv(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			return unicode.IsSpace(r) || strings.ContainsRune(`"'\$*?;&|<>(){}[]`+"`", r) || !unicode.IsPrint(r)
		}) {
			out[i] = strconv.Quote(a)
		} else {
			out[i] = a
		}
	}
	return strings.Join(out, " ")
}

// safe keeps fleet-supplied text from moving the cursor or recolouring the
// terminal: control characters are escaped.
func safe(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
