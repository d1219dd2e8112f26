//go:build unix

package inventory

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

// TestFilesThatAreNotFiles: every file an inventory names (CA, client
// certificate and key, password file), and the inventory itself, refuses a
// FIFO, /dev/zero, a directory, a socket and a huge sparse file at once,
// with an error naming the path and what it is. Before, a FIFO as tls.ca
// blocked `inventory validate` forever and /dev/zero filled memory.
func TestFilesThatAreNotFiles(t *testing.T) {
	for _, c := range inputfiletest.Hostile(t) {
		for _, field := range []string{"tls: {ca: %q}", "tls: {cert: %q, key: k.pem}", "tls: {cert: c.pem, key: %q}", "auth: {user: u, password_file: %q}"} {
			t.Run(c.Name+"/"+strings.Fields(field)[1], func(t *testing.T) {
				dir := t.TempDir()
				inv := filepath.Join(dir, "fleet.yaml")
				body := fmt.Sprintf("clusters:\n  - name: a\n    endpoints: [https://127.0.0.1:2379]\n    "+field+"\n", c.Path)
				if err := os.WriteFile(inv, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				err := inputfiletest.Within(t, func() error { _, err := LoadContext(context.Background(), inv); return err })
				if err == nil || !strings.Contains(err.Error(), c.Want) {
					t.Fatalf("LoadContext = %v, want a problem containing %q", err, c.Want)
				}
			})
		}
		t.Run(c.Name+"/connect", func(t *testing.T) {
			for _, cl := range []Cluster{
				{Name: "a", Endpoints: []string{"https://127.0.0.1:2379"}, TLS: TLS{CA: c.Path}},
				{Name: "a", Endpoints: []string{"https://127.0.0.1:2379"}, TLS: TLS{Cert: c.Path, Key: c.Path}},
				{Name: "a", Endpoints: []string{"http://127.0.0.1:2379"}, Auth: Auth{User: "u", PasswordFile: c.Path}},
			} {
				err := inputfiletest.Within(t, func() error { _, err := Connect(cl); return err })
				if err == nil || !strings.Contains(err.Error(), c.Want) {
					t.Errorf("Connect(%+v) = %v, want %q", cl, err, c.Want)
				}
			}
			errs := inputfiletest.Within(t, func() []error { return checkFlagTLS(TLS{CA: c.Path, Cert: c.Path, Key: c.Path}) })
			if len(errs) != 2 || !strings.Contains(errs[0].Error(), c.Want) || !strings.Contains(errs[1].Error(), c.Want) {
				t.Errorf("checkFlagTLS = %v, want two errors containing %q", errs, c.Want)
			}
		})
		t.Run(c.Name+"/inventory", func(t *testing.T) {
			err := inputfiletest.Within(t, func() error { _, err := LoadContext(context.Background(), c.Path); return err })
			if err == nil || !strings.Contains(err.Error(), c.Want) {
				t.Fatalf("LoadContext(%s) = %v, want %q", c.Path, err, c.Want)
			}
		})
	}
}

// TestInventoryYAMLBomb: a few hundred bytes of nested aliases are refused
// by the shared YAML limits, in bounded memory, with the limit named.
func TestInventoryYAMLBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "x%d: &x%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*x%d, ", i-1), 10), ", "))
	}
	b.WriteString("clusters:\n  - name: a\n    endpoints: [http://h:1]\n    labels: {l: *x8}\n")
	inv := filepath.Join(t.TempDir(), "bomb.yaml")
	if err := os.WriteFile(inv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := inputfiletest.Within(t, func() error { _, err := LoadContext(context.Background(), inv); return err })
	runtime.ReadMemStats(&after)
	const want = "YAML too many alias expansions: more than 500000 nodes once aliases are expanded (limit 500000)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("LoadContext(%d-byte bomb) = %v, want %q", b.Len(), err, want)
	}
	if mem := after.TotalAlloc - before.TotalAlloc; mem > 200<<20 {
		t.Errorf("allocated %d MiB, want < 200 MiB", mem>>20)
	}
}
