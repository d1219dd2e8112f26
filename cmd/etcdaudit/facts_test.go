package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

func TestFactsArgsValidate(t *testing.T) {
	ok := factsArgs{profile: "quick", concurrency: 64}
	if err := ok.validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, tc := range map[string]struct {
		args factsArgs
		want []string
	}{
		"profile":     {factsArgs{profile: "fast", concurrency: 1}, []string{`--profile "fast"`}},
		"concurrency": {factsArgs{profile: "full", concurrency: 0}, []string{"--concurrency 0"}},
		"timeout":     {factsArgs{profile: "full", concurrency: 1, timeout: -time.Second}, []string{"--timeout -1s"}},
		"unknown":     {factsArgs{profile: "quick", concurrency: 1, include: []string{"verison"}}, []string{`unknown collector "verison"`, "known: version"}},
		"all at once": {factsArgs{profile: "full", concurrency: -1, exclude: []string{"nope"}}, []string{"--concurrency -1", `"nope"`}},
	} {
		err := tc.args.validate()
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v, want it to mention %q", name, err, w)
			}
		}
	}
}

// TestFactsCommand runs the command end to end on a real (in-process)
// server: exit 0, an atomically written, schema-valid document with the
// seeded counts, and a summary on stderr.
func TestFactsCommand(t *testing.T) {
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("embed"))
	cli := c.Client(t)
	for _, k := range []string{"/registry/pods/a", "/registry/events/e1", "/other"} {
		if _, err := cli.Put(context.Background(), k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "facts.json")
	code, stdout, stderr := runCLI(t, "facts", "--endpoints", c.Endpoints()[0], "--profile", "full", "-o", out, "--concurrency", "4", "--timeout", "1m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" || !strings.Contains(stderr, "facts: 1 clusters (0 not discovered), 1 members (1 reachable), 0 collector errors") {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var f collectors.Facts
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.Schema != collectors.FactsSchema || f.Profile != "full" || len(f.Clusters) != 1 {
		t.Fatalf("facts: %s", b)
	}
	m := f.Clusters[0].Members[0]
	if m.V3 == nil || m.V3.Keys != 3 || m.V3.RegistryKeys != 2 || f.Clusters[0].EventLeases == nil || f.Clusters[0].EventLeases.Unleased != 1 {
		t.Errorf("counts: %s", b)
	}
	schema, err := jsonschema.NewCompiler().Compile(filepath.Join("..", "..", "schema", "facts.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("schema: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".facts.json.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestFactsCommandErrors: the tool's own problems exit 1 before any network
// call; a fleet that cannot be reached is a fact (exit 0), judged later.
func TestFactsCommandErrors(t *testing.T) {
	code, _, stderr := runCLI(t, "facts", "--endpoints", "http://127.0.0.1:1", "--collectors", "nope")
	if code != 1 || !strings.Contains(stderr, `unknown collector "nope"`) {
		t.Errorf("unknown collector: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "facts")
	if code != 1 {
		t.Errorf("no fleet: exit %d, %q", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "facts", "--endpoints", "http://127.0.0.1:1", "--command-timeout", "1s", "--dial-timeout", "1s")
	if code != 0 || !strings.Contains(stdout, `"discovery_error"`) || !strings.Contains(stdout, "refused") {
		t.Errorf("unreachable fleet: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "facts", "--list-collectors")
	if code != 0 || !strings.Contains(stdout, "event_leases") || !strings.Contains(stdout, "full") {
		t.Errorf("--list-collectors: %d %q", code, stdout)
	}
}
