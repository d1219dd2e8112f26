package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// xmlNode is a generic element tree, so the check below sees exactly what a
// CI parser sees, not what our own structs would accept.
type xmlNode struct {
	Name     string
	Attrs    map[string]string
	Children []*xmlNode
	Text     string
}

func parseXML(t *testing.T, data []byte) *xmlNode {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*xmlNode
	var root *xmlNode
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("JUnit XML does not parse: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{Name: tk.Name.Local, Attrs: map[string]string{}}
			for _, a := range tk.Attr {
				n.Attrs[a.Name.Local] = a.Value
			}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(tk)
			}
		}
	}
	return root
}

// junit10 is the element structure of the Jenkins xUnit plugin's
// junit-10.xsd (the de-facto JUnit schema CI systems accept): allowed
// attributes (required ones marked), allowed children, and whether text is
// allowed.
var junit10 = map[string]struct {
	attrs    map[string]bool // name -> required
	children []string
	text     bool
}{
	"testsuites": {map[string]bool{"name": false, "time": false, "tests": false, "failures": false, "errors": false}, []string{"testsuite"}, false},
	"testsuite": {map[string]bool{"name": true, "tests": true, "failures": true, "errors": true, "group": false, "time": false,
		"skipped": false, "timestamp": false, "hostname": false, "id": false, "package": false, "file": false, "log": false, "url": false},
		[]string{"testsuite", "properties", "testcase", "system-out", "system-err"}, false},
	"properties": {map[string]bool{}, []string{"property"}, false},
	"property":   {map[string]bool{"name": true, "value": true}, nil, false},
	"testcase": {map[string]bool{"name": true, "time": false, "classname": false, "group": false},
		[]string{"skipped", "error", "failure", "rerunFailure", "rerunError", "flakyFailure", "flakyError", "system-out", "system-err"}, false},
	"failure":    {map[string]bool{"type": false, "message": false}, nil, true},
	"error":      {map[string]bool{"type": false, "message": false}, nil, true},
	"skipped":    {map[string]bool{"type": false, "message": false}, nil, true},
	"system-out": {map[string]bool{}, nil, true},
	"system-err": {map[string]bool{}, nil, true},
}

// surefireTime is junit-10's SUREFIRE_TIME pattern for time attributes.
var surefireTime = regexp.MustCompile(`^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$`)

func checkJUnit10(n *xmlNode, path string) []string {
	var errs []string
	spec, ok := junit10[n.Name]
	if !ok {
		return []string{path + ": element not in junit-10.xsd"}
	}
	for a, req := range spec.attrs {
		if _, has := n.Attrs[a]; req && !has {
			errs = append(errs, fmt.Sprintf("%s: required attribute %q missing", path, a))
		}
	}
	for a, v := range n.Attrs {
		if _, ok := spec.attrs[a]; !ok {
			errs = append(errs, fmt.Sprintf("%s: attribute %q not allowed", path, a))
		}
		if a == "time" && (n.Name == "testsuite" || n.Name == "testsuites") && !surefireTime.MatchString(v) {
			errs = append(errs, fmt.Sprintf("%s: time %q does not match SUREFIRE_TIME", path, v))
		}
	}
	if !spec.text && strings.TrimSpace(n.Text) != "" {
		errs = append(errs, path+": text not allowed")
	}
	for i, c := range n.Children {
		allowed := false
		for _, a := range spec.children {
			allowed = allowed || a == c.Name
		}
		if !allowed {
			errs = append(errs, fmt.Sprintf("%s: child <%s> not allowed", path, c.Name))
			continue
		}
		errs = append(errs, checkJUnit10(c, fmt.Sprintf("%s/%s[%d]", path, c.Name, i))...)
	}
	return errs
}

func TestJUnitFitsJUnit10Schema(t *testing.T) {
	r := loadFixture(t)
	var buf bytes.Buffer
	if err := Render(&buf, "junit", r, Options{}); err != nil {
		t.Fatal(err)
	}
	root := parseXML(t, buf.Bytes())
	if root.Name != "testsuites" {
		t.Fatalf("root is <%s>", root.Name)
	}
	for _, e := range checkJUnit10(root, "/testsuites") {
		t.Error(e)
	}
	// Counts agree with the elements, per suite and overall, and with the
	// report's summary: one testcase per result.
	totals := map[string]int{}
	var names []string
	for _, s := range root.Children {
		names = append(names, s.Attrs["name"])
		got := map[string]int{}
		for _, tc := range s.Children {
			if tc.Name != "testcase" {
				continue
			}
			got["tests"]++
			for _, c := range tc.Children {
				switch c.Name {
				case "failure":
					got["failures"]++
				case "error":
					got["errors"]++
				case "skipped":
					got["skipped"]++
				}
			}
		}
		for _, k := range []string{"tests", "failures", "errors", "skipped"} {
			if s.Attrs[k] != strconv.Itoa(got[k]) {
				t.Errorf("suite %q: %s=%q but %d elements", s.Attrs["name"], k, s.Attrs[k], got[k])
			}
			totals[k] += got[k]
		}
	}
	o := r.Summary.Overall
	if totals["tests"] != o.Total || totals["failures"] != o.Failed || totals["errors"] != o.Error || totals["skipped"] != o.Skipped {
		t.Errorf("testcases %v disagree with the summary %+v", totals, o)
	}
	if root.Attrs["tests"] != strconv.Itoa(o.Total) || root.Attrs["failures"] != strconv.Itoa(o.Failed) {
		t.Errorf("testsuites totals %v, want %+v", root.Attrs, o)
	}
	want := []string{"fleet", "half-migrated-us", `lab "edge" <img src=x onerror=alert(2)>`, "legacy-eu", "prod-ap"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("suites %q, want %q", names, want)
	}
	// The hostile member name survives as text (the encoder escaped it), and
	// the ESC control character, which XML 1.0 cannot carry, is spelled out.
	if !bytes.Contains(buf.Bytes(), []byte(`member &lt;script&gt;alert(1)&lt;/script&gt;`)) {
		t.Error("hostile member name not escaped in testcase name")
	}
	if bytes.ContainsRune(buf.Bytes(), 0x1b) {
		t.Error("an ESC byte made it into the XML")
	}
}

func TestXMLSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           "plain",
		"a\x1bb":          `a\u001bb`,
		"tab\tnl\n":       "tab\tnl\n",
		"bad\xffutf8":     `bad\xffutf8`,
		"keep \uFFFD":     "keep \uFFFD",
		"nul\x00":         `nul\u0000`,
		"<tag & 'quote'>": "<tag & 'quote'>",
	} {
		if got := xmlSafe(in); got != want {
			t.Errorf("xmlSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
