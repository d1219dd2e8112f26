package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the parser (seeded with every testdata
// inventory, good and bad). Panics are not caught here, so the fuzzer sees
// them; and every answer must be either a usable fleet or located problems.
// `make fuzz` runs it for 60s.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"*.yaml", "bad/*.yaml"} {
		files, _ := filepath.Glob(filepath.Join(testdata, pattern))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("clusters: [{name: a, endpoints: [\"http://[::1]:2379\"]}]"))
	f.Add([]byte("a: &a {b: *a}"))
	name := filepath.Join(testdata, "fuzz.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		catchPanics = false
		fleet, err := Parse(name, data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error without problems: %T %v", err, err)
			}
			for _, p := range ve.Problems {
				if p.File != name || p.Message == "" {
					t.Fatalf("unlocated or empty problem: %+v", p)
				}
			}
			if fleet != nil {
				t.Fatal("a fleet returned with an error")
			}
			return
		}
		if fleet == nil || len(fleet.Clusters) == 0 {
			t.Fatal("no error and no clusters")
		}
		seen := map[string]bool{}
		for _, c := range fleet.Clusters {
			if c.Name == "" || len(c.Endpoints) == 0 || seen[c.Name] {
				t.Fatalf("invalid cluster accepted: %+v", c)
			}
			seen[c.Name] = true
			for _, ep := range c.Endpoints {
				if _, _, msg := checkEndpoint(ep); msg != "" {
					t.Fatalf("accepted endpoint %q fails its own check: %s", ep, msg)
				}
			}
		}
	})
}
