package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/results"
)

// TestDemo runs `etcdaudit demo` end to end on its embedded fleet and checks
// that the story comes out: the three clusters discovered, the legacy and
// half-migrated clusters failing for the reasons the story in
// docs/etcd-knowledge.md gives, the compliant one passing, and both report
// files written.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run([]string{"demo", "--dir", dir}, &out, &errb)
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"cluster legacy", "cluster half-migrated", "cluster compliant",
		"half-migrated-3", "compliant-3", "Scan exit code 100",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep results.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Fatal(err)
	}
	status := map[string]results.Status{}
	for _, r := range rep.Results {
		key := r.Control + " " + r.Cluster + "/" + r.Member
		status[key] = r.Status
	}
	want := map[string]results.Status{
		"ETCD-K8S-002 legacy/legacy-1":               results.Failed, // backend etcd2
		"ETCD-V2-001 legacy/legacy-1":                results.Failed, // v2 data blocks 3.6
		"ETCD-K8S-001 half-migrated/half-migrated-1": results.Failed, // split v2/v3
		"ETCD-K8S-004 half-migrated/":                results.Failed, // events without leases
		"ETCD-K8S-004 compliant/":                    results.Passed,
		"ETCD-K8S-002 compliant/compliant-2":         results.Passed,
		"ETCD-SEC-002 compliant/compliant-1":         results.Passed,
		"ETCD-SEC-001 legacy/legacy-1":               results.Failed,
	}
	for k, w := range want {
		if got, ok := status[k]; !ok || got != w {
			t.Errorf("%s: status %q, want %q", k, got, w)
		}
	}
	for k, s := range status {
		if strings.Contains(k, " compliant/") && (s == results.Failed || s == results.Error) {
			t.Errorf("compliant cluster: %s is %s", k, s)
		}
	}
}
