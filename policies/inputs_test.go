//go:build unix

package policies

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/internal/inputfile/inputfiletest"
)

// laughs is a billion-laughs data file: nine levels of ten aliases, 10^9
// strings once expanded, in a few hundred bytes under key.
func laughs(key string) string {
	var b strings.Builder
	b.WriteString(key + ":\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	return b.String()
}

func writeInput(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestYAMLBombs: a data file or a waivers file of nested aliases is refused
// with the limit named, after allocating a bounded amount of memory. Before
// the shared limits, the data file took 1.2 GB and was killed.
func TestYAMLBombs(t *testing.T) {
	for name, load := range map[string]func() error{
		"data": func() error {
			_, err := LoadData([]string{writeInput(t, "data.yaml", laughs("known_issues_extra"))})
			return err
		},
		"waivers": func() error {
			_, err := LoadWaivers(writeInput(t, "waivers.yaml", laughs("x")+"waivers: []\n"))
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := inputfiletest.Within(t, load)
			runtime.ReadMemStats(&after)
			const want = "YAML too many alias expansions: more than 500000 nodes once aliases are expanded (limit 500000)"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %q", err, want)
			}
			if mem := after.TotalAlloc - before.TotalAlloc; mem > 200<<20 {
				t.Errorf("allocated %d MiB, want < 200 MiB", mem>>20)
			}
		})
	}
}

// TestInputsThatAreNotFiles: --data and --waivers refuse what is not a
// regular file, at once, naming the path and what it is.
func TestInputsThatAreNotFiles(t *testing.T) {
	for _, c := range inputfiletest.Hostile(t) {
		t.Run(c.Name, func(t *testing.T) {
			err := inputfiletest.Within(t, func() error { _, err := LoadData([]string{c.Path}); return err })
			if err == nil || !strings.Contains(err.Error(), c.Want) {
				t.Errorf("LoadData = %v, want %q", err, c.Want)
			}
			err = inputfiletest.Within(t, func() error { _, err := LoadWaiversContext(context.Background(), c.Path); return err })
			if err == nil || !strings.Contains(err.Error(), c.Want) {
				t.Errorf("LoadWaivers = %v, want %q", err, c.Want)
			}
		})
	}
}

// TestWaiversDroppedSilently: YAML lets a repeated key or a second document
// replace what came first; for waivers that is a waiver lost without a word.
func TestWaiversDroppedSilently(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"repeated key": {
			"waivers:\n  - {control: A, justification: j}\nwaivers:\n  - {control: B, justification: j}\n",
			"w.yaml:3: a second `waivers:` key (the first is at w.yaml:1): put every waiver in one list",
		},
		"second document": {
			"waivers:\n  - {control: A, justification: j}\n---\nwaivers:\n  - {control: B, justification: j}\n",
			"w.yaml:3: a second YAML document",
		},
		"repeated field in a waiver": {
			"waivers:\n  - control: A\n    control: B\n    justification: j\n",
			`mapping key "control" already defined at line 2`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseWaivers("w.yaml", []byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestPolicyFilesThatAreNotFiles: a FIFO named like a control in a policy
// folder (or given as the policy file) is refused, not read forever.
func TestPolicyFilesThatAreNotFiles(t *testing.T) {
	c := inputfiletest.Hostile(t)[0] // the FIFO
	dir := t.TempDir()
	inDir := filepath.Join(dir, "control.rego")
	if err := os.Symlink(c.Path, inDir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, inDir} {
		err := inputfiletest.Within(t, func() error { _, err := New(context.Background(), Config{PolicyDirs: []string{p}}); return err })
		if err == nil || !strings.Contains(err.Error(), "is a FIFO (named pipe), not a regular file") {
			t.Errorf("New(policy %s) = %v, want the FIFO refused", p, err)
		}
	}
}
