package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

func runInventoryCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestInventoryValidate(t *testing.T) {
	if err := os.Chmod("../../testdata/inventory/secrets/etcd-password", 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runInventoryCLI(t, "inventory", "validate", "-f", "../../testdata/inventory/full.yaml")
	if code != 0 || out != "../../testdata/inventory/full.yaml: 3 clusters, 5 endpoints: OK\n" {
		t.Errorf("good file: exit %d, %q", code, out)
	}
	code, out, _ = runInventoryCLI(t, "inventory", "validate", "-f", "../../testdata/inventory/bad/unknown-field.yaml")
	if code != 1 || !strings.Contains(out, "unknown-field.yaml:4:5: clusters[0].endpiont: unknown field") || !strings.HasSuffix(out, "4 problems\n") {
		t.Errorf("bad file: exit %d\n%s", code, out)
	}
	code, out, _ = runInventoryCLI(t, "inventory", "validate", "-o", "json", "-f", "../../testdata/inventory/bad/duplicate-names.yaml")
	var v struct {
		Valid    bool
		Problems []struct{ Line int }
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != 1 || v.Valid || len(v.Problems) != 1 || v.Problems[0].Line != 4 {
		t.Errorf("json: exit %d, %v, %s", code, err, out)
	}
	code, out, _ = runInventoryCLI(t, "inventory", "validate", "-f", "../../testdata/inventory/warnings.yaml")
	if code != 0 || !strings.Contains(out, "clusters[1].tls.insecure_skip_verify: warning:") || !strings.HasSuffix(out, "OK (3 warnings)\n") {
		t.Errorf("warnings: exit %d\n%s", code, out)
	}
	code, _, errOut := runInventoryCLI(t, "inventory", "validate", "-f", "x.yaml", "--endpoints", "http://h:1")
	if code != 1 || !strings.Contains(errOut, "--endpoints cannot be combined with -f") {
		t.Errorf("-f with --endpoints: exit %d, %s", code, errOut)
	}
	code, _, errOut = runInventoryCLI(t, "inventory", "validate", "-f", "/nonexistent/fleet.yaml")
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, %s", code, errOut)
	}
}

func TestInventoryValidateFromEnv(t *testing.T) {
	t.Setenv("ETCDCTL_ENDPOINTS", "127.0.0.1:2379,127.0.0.1:22379")
	code, out, errOut := runInventoryCLI(t, "inventory", "validate")
	if code != 0 || !strings.Contains(out, "flags: 1 cluster, 2 endpoints: OK") {
		t.Errorf("exit %d, %q %q", code, out, errOut)
	}
}

func TestInventoryDiscover(t *testing.T) {
	ec := etcdtest.NewCluster(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	fleet := filepath.Join(dir, "fleet.yaml")
	inv := fmt.Sprintf("name: t\nclusters:\n  - name: up\n    endpoints: [%s]\n  - name: down\n    endpoints: [%s]\n", ec.Endpoints()[0], dead)
	if err := os.WriteFile(fleet, []byte(inv), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runInventoryCLI(t, "inventory", "discover", "-f", fleet, "--concurrency", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"cluster up (id ", "1 member, 1 reachable", "NAME", ec.Members[0].Name, ec.Endpoints()[0], "3.5.35", "yes (leader)",
		"cluster down: member list unavailable: no endpoint returned the member list: " + dead + ": connection refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runInventoryCLI(t, "inventory", "discover", "--endpoints", ec.Endpoints()[0], "-o", "json")
	var doc struct {
		Clusters []struct {
			Members []struct {
				Name      string
				Reachable bool
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || len(doc.Clusters) != 1 ||
		len(doc.Clusters[0].Members) != 1 || !doc.Clusters[0].Members[0].Reachable {
		t.Errorf("json: exit %d, %v\n%s", code, err, out)
	}

	if code, _, errOut := runInventoryCLI(t, "inventory", "discover", "-f", fleet, "-o", "yaml"); code != 1 || !strings.Contains(errOut, "use table or json") {
		t.Errorf("bad -o: exit %d %s", code, errOut)
	}
}

func TestInventoryHelp(t *testing.T) {
	for _, sub := range []string{"validate", "discover"} {
		_, out, _ := runInventoryCLI(t, "inventory", sub, "--help")
		for _, want := range []string{"Examples:", "-f, --file", "--endpoints", "ETCDCTL_ENDPOINTS", "--command-timeout"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s --help lacks %q", sub, want)
			}
		}
	}
}
