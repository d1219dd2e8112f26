package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/policies"
)

// serve re-reads the inventory before each scan: an edited ConfigMap
// applies at the next scan, and a broken edit fails that scan (the service
// and its last good scan stay) until it is fixed.
func TestInventoryReReadPerScan(t *testing.T) {
	if testing.Short() {
		t.Skip("real etcd")
	}
	c := etcdtest.NewCluster(t, etcdtest.WithVersion("embed"))
	inv := filepath.Join(t.TempDir(), "fleet.yaml")
	write := func(body string) {
		if err := os.WriteFile(inv, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fleetYAML := func(name string) string {
		return fmt.Sprintf("name: reread\nclusters:\n  - name: %s\n    endpoints: [%s]\n", name, c.Endpoints()[0])
	}
	write(fleetYAML("before"))
	ctx := context.Background()
	if _, err := FleetScanner(ctx, FleetConfig{Inventory: filepath.Join(t.TempDir(), "missing.yaml")}); err == nil {
		t.Fatal("a missing inventory must stop serve at start")
	}
	if _, err := FleetScanner(ctx, FleetConfig{Inventory: inv, Policies: policies.Config{Controls: []string{"NO-SUCH-*"}}}); err == nil {
		t.Fatal("a control selection matching nothing must stop serve at start")
	}
	scan, err := FleetScanner(ctx, FleetConfig{Inventory: inv, Collect: collectors.Options{Profile: "quick"}})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, Config{Scan: scan, TokenFile: tokenFile(t, "tok")})
	scanOK := func(wantCluster string) {
		t.Helper()
		code, body, _ := post(t, r.base+"/api/scans?wait=1", "tok")
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		if got := r.s.snap().latest.Facts.Clusters[0].Name; got != wantCluster {
			t.Fatalf("scanned cluster %q, want %q", got, wantCluster)
		}
	}
	scanOK("before")
	write(fleetYAML("after"))
	scanOK("after")
	write("name: broken\nclusters:\n  - name: x\n    endpoints: [not a url]\n    bogus_field: 1\n")
	code, body, _ := post(t, r.base+"/api/scans?wait=1", "tok")
	if code != 500 || !strings.Contains(body, "fleet.yaml") {
		t.Fatalf("broken inventory: %d %s", code, body)
	}
	if got := r.s.snap().latest.Facts.Clusters[0].Name; got != "after" {
		t.Fatalf("latest scan after a failed one: %q", got)
	}
	write(fleetYAML("fixed"))
	scanOK("fixed")
}
