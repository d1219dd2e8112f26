// Package demo starts, in-process with embedded etcd 3.5, a small fleet that
// tells the seed's story: a legacy cluster whose Kubernetes data still lives
// in the v2 store, a half-migrated one (data copied to v3 but events without
// leases and v2 leftovers), and a compliant one. It writes the fleet's
// inventory so every other command can be pointed at it.
package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/etcdaudit/etcdaudit/internal/pki"
)

// Fleet is a running demo fleet.
type Fleet struct {
	// Dir holds the data dirs, logs, certificates and the inventory.
	Dir string
	// Inventory is the path of the fleet file describing the demo fleet.
	Inventory string
	// Clusters names the clusters in inventory order.
	Clusters []string
	running  []*runningCluster
	stories  []story // stories[i] built running[i]
}

// Close stops every demo server. The directory is left for the caller.
func (f *Fleet) Close() {
	for _, c := range f.running {
		c.close()
	}
}

// Start builds the demo fleet under dir (created if missing) and seeds each
// cluster with its part of the story.
func Start(ctx context.Context, dir string) (_ *Fleet, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	certs, err := pki.Generate(filepath.Join(dir, "certs"), pki.Options{})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	f := &Fleet{Dir: dir, Inventory: filepath.Join(dir, "fleet.yaml")}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	for _, st := range stories(certs) {
		rc, err := startCluster(ctx, filepath.Join(dir, "data"), st.spec)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		f.running = append(f.running, rc)
		f.stories = append(f.stories, st)
		f.Clusters = append(f.Clusters, st.spec.name)
		if err := seedCluster(ctx, st, rc); err != nil {
			return nil, fmt.Errorf("demo: seed %s: %w", st.spec.name, err)
		}
	}
	if err := os.WriteFile(f.Inventory, []byte(f.inventoryYAML(certs)), 0o600); err != nil {
		return nil, fmt.Errorf("demo: write inventory: %w", err)
	}
	return f, nil
}

// inventoryYAML renders the fleet file; certificate paths are relative to
// the inventory's directory so the whole demo dir can be moved.
func (f *Fleet) inventoryYAML(certs *pki.Files) string {
	var b strings.Builder
	b.WriteString("# The etcdaudit demo fleet (embedded etcd 3.5.35 on loopback).\n")
	b.WriteString("name: demo\ndefaults:\n  collect:\n    command_timeout: 5s\nclusters:\n")
	rel := func(p string) string {
		r, err := filepath.Rel(f.Dir, p)
		if err != nil {
			return p
		}
		return r
	}
	for i, rc := range f.running {
		st := f.stories[i]
		fmt.Fprintf(&b, "  - name: %s\n", rc.spec.name)
		fmt.Fprintf(&b, "    # %s\n", st.story)
		fmt.Fprintf(&b, "    endpoints: [%s]\n", rc.clients[0])
		fmt.Fprintf(&b, "    labels: {region: %s, tier: %s}\n", st.region, st.tier)
		fmt.Fprintf(&b, "    kubernetes_backend: %s\n", st.declared)
		if rc.spec.tls != nil {
			fmt.Fprintf(&b, "    tls:\n      ca: %s\n      cert: %s\n      key: %s\n",
				rel(certs.CA), rel(certs.ClientCert), rel(certs.ClientKey))
		}
	}
	return b.String()
}
