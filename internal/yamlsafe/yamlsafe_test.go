package yamlsafe

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// Laughs is a billion-laughs document: levels of ten aliases to the level
// below, 10^levels leaves once expanded, in a few hundred bytes.
func Laughs(levels int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < levels; i++ {
		a := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.Repeat(a+", ", 9)+a)
	}
	return b.String()
}

// allocated runs f and returns the bytes it allocated: an upper bound of
// the memory it held at its peak.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const memoryBound = 200 << 20

func TestParseRefusesBombs(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"billion laughs", Laughs(9), "f.yaml:6: YAML too many alias expansions: more than 500000 nodes once aliases are expanded (limit 500000)"},
		{"laughs in a second document", "a: 1\n---\n" + Laughs(9), "YAML too many alias expansions"},
		{"deep nesting", "a: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000), "f.yaml:1: YAML nested too deep: more than 100 levels (limit 100)"},
		{"deep through aliases", deepAliases(120), "YAML nested too deep"},
		{"flat flow list", "[" + strings.Repeat("a,", 3<<20) + "a]", "f.yaml: YAML too large: up to 3145731 nodes (limit 500000)"},
		{"flat block list", strings.Repeat("- a\n", 1<<20), "YAML too large: up to"},
		{"file too large", strings.Repeat("#", MaxFileSize+1), "f.yaml: YAML too large (limit 8388608)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			mem := allocated(func() { _, err = Parse("f.yaml", []byte(tc.src)) })
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("Parse = %v, want a LimitError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if mem > memoryBound {
				t.Errorf("allocated %d MiB, want < %d MiB", mem>>20, memoryBound>>20)
			}
		})
	}
}

func deepAliases(n int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 x\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d]\n", i, i, i-1)
	}
	return b.String()
}

// TestParseAcceptsLargeRealisticFiles: the limits leave room for the
// largest inputs the tool is built for, and for what aliases are for.
func TestParseAcceptsLargeRealisticFiles(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: big\ndefaults: &d\n  labels: {owner: sre}\nclusters:\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "  - name: c%05d\n    endpoints: [https://10.%d.%d.1:2379, https://10.%d.%d.2:2379, https://10.%d.%d.3:2379]\n"+
			"    labels: {tier: small, region: r%d}\n    collect: {page_size: 5000}\n    tls: {ca: ca.pem, cert: c.pem, key: k.pem}\n", i, i/256, i%256, i/256, i%256, i/256, i%256, i%7)
	}
	docs, err := Parse("big.yaml", []byte(b.String()))
	if err != nil || len(docs) != 1 {
		t.Fatalf("5,000-cluster inventory: %d docs, %v", len(docs), err)
	}
	// The densest files at the limits parse (or are refused) in bounded
	// memory: "a: b," makes three nodes of two indicators, the estimate's
	// worst case, refused only once parsed.
	for name, src := range map[string]string{
		"flow list":           "[" + strings.Repeat("a,", MaxNodes-10) + "a]",
		"flow pairs":          "[" + strings.Repeat("a: b,", MaxNodes/2-10) + "a]",
		"block list":          strings.Repeat("- a\n", MaxNodes/2-10),
		"block list of lists": strings.Repeat("- - - - - a\n", MaxNodes/6-10),
	} {
		var err error
		mem := allocated(func() { _, err = Parse(name, []byte(src)) })
		var le *LimitError
		if err != nil && !errors.As(err, &le) {
			t.Errorf("%s: %v", name, err)
		}
		if mem > memoryBound {
			t.Errorf("%s: allocated %d MiB, want < %d MiB", name, mem>>20, memoryBound>>20)
		}
		t.Logf("%s: %d bytes, allocated %d MiB, err=%v", name, len(src), mem>>20, err)
	}
	if docs, err := Parse("laughs.yaml", []byte(Laughs(5))); err != nil || len(docs) != 1 {
		t.Fatalf("100,000 nodes of aliases: %v", err)
	}
	if docs, err := Parse("empty.yaml", nil); err != nil || len(docs) != 0 {
		t.Fatalf("empty file: %d docs, %v", len(docs), err)
	}
}
