package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/etcdaudit/etcdaudit/results"
)

// junitReporter writes JUnit XML in the shape of the Jenkins xUnit plugin's
// junit-10.xsd, which GitLab, GitHub Actions reporters and Jenkins all read:
// one testsuite per cluster (plus "fleet" for fleet-wide controls), one
// testcase per control × subject. Waived results pass, with the waiver in
// system-out, because waived counts as passed for the exit code too.
type junitReporter struct{ opts Options }

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	ID         string          `xml:"id,attr"`
	Package    string          `xml:"package,attr"`
	Properties *junitProps     `xml:"properties,omitempty"`
	Cases      []junitTestcase `xml:"testcase"`
}

type junitProps struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestcase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func (j *junitReporter) Render(w io.Writer, r *results.Report) error {
	v := newView(r)
	doc := junitSuites{Name: "etcdaudit " + xmlSafe(r.Inventory), Time: seconds(r)}
	ts := ""
	if !r.StartedAt.IsZero() {
		// junit-10 readers expect a timezone-less ISO 8601 timestamp; UTC.
		ts = r.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	suite := func(id int, name string, props []junitProp, groups ...[]results.Result) junitSuite {
		s := junitSuite{Name: xmlSafe(name), Time: "0", Timestamp: ts, ID: strconv.Itoa(id), Package: "etcdaudit"}
		if len(props) > 0 {
			s.Properties = &junitProps{props}
		}
		for _, g := range groups {
			for _, res := range g {
				s.Cases = append(s.Cases, j.testcase(v, name, res))
				s.Tests++
				switch res.Status {
				case results.Failed:
					s.Failures++
				case results.Error:
					s.Errors++
				case results.Skipped:
					s.Skipped++
				}
			}
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		return s
	}
	id := 0
	if len(v.fleet) > 0 {
		doc.Suites = append(doc.Suites, suite(id, "fleet", nil, v.fleet))
		id++
	}
	for _, c := range v.clusters {
		var props []junitProp
		if c.Facts != nil {
			for _, k := range sortedKeys(c.Facts.Labels) {
				props = append(props, junitProp{xmlSafe(k), xmlSafe(c.Facts.Labels[k])})
			}
		}
		groups := [][]results.Result{c.Results}
		for _, m := range c.Members {
			groups = append(groups, m.Results)
		}
		doc.Suites = append(doc.Suites, suite(id, c.Name, props, groups...))
		id++
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func (j *junitReporter) testcase(v *view, suite string, res results.Result) junitTestcase {
	subject := "cluster " + res.Cluster
	class := "etcdaudit." + suite
	switch {
	case res.Cluster == "":
		subject = "fleet"
	case res.Member != "":
		subject = "member " + res.Member
		class += "." + res.Member
	}
	tc := junitTestcase{
		Name:      xmlSafe(fmt.Sprintf("%s %s: %s", res.Control, subject, v.title(res.Control))),
		Classname: xmlSafe(class),
		Time:      "0",
	}
	msg := xmlSafe(strings.Join(res.Messages, "\n"))
	first := ""
	if len(res.Messages) > 0 {
		first = xmlSafe(res.Messages[0])
	}
	switch res.Status {
	case results.Failed:
		text := msg
		if res.ExpiredWaiver != nil {
			text += "\nwaiver expired" + expiry(res.ExpiredWaiver) + ": " + xmlSafe(res.ExpiredWaiver.Justification)
		}
		tc.Failure = &junitMessage{Message: first, Type: xmlSafe(res.Control), Text: text}
	case results.Error:
		tc.Error = &junitMessage{Message: first, Type: xmlSafe(res.Control), Text: msg}
	case results.Skipped:
		tc.Skipped = &junitMessage{Message: first, Text: msg}
	case results.Waived:
		out := "waived"
		if res.Waiver != nil {
			out += expiry(res.Waiver) + ": " + xmlSafe(res.Waiver.Justification)
		}
		if msg != "" {
			out += "\n" + msg
		}
		tc.SystemOut = out
	}
	return tc
}

func seconds(r *results.Report) string {
	return strconv.FormatFloat(duration(r).Seconds(), 'f', 3, 64)
}

// xmlSafe drops what XML 1.0 cannot carry at all (most control characters,
// invalid UTF-8): encoding/xml would otherwise write a document no parser
// accepts. Escaping of <, & and quotes is the encoder's job.
func xmlSafe(s string) string {
	ok := func(r rune) bool {
		return r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xd7ff) ||
			(r >= 0xe000 && r <= 0xfffd) || (r >= 0x10000 && r <= 0x10ffff)
	}
	clean := utf8.ValidString(s)
	if clean {
		for _, r := range s {
			if !ok(r) {
				clean = false
				break
			}
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !ok(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
