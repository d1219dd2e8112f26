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
	"strconv"
	"strings"
	"sync"

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
	opts     Options
	hooks    *hookServer
}

// Options change how the demo fleet is built.
type Options struct {
	// HookCommand is the argv prefix of `etcdaudit demo hook --dir DIR`
	// (the running etcdaudit binary): with it, the inventory gives the
	// legacy cluster writer hooks that drive the demo's stand-in for its
	// API servers, so its v2 data can be migrated for real. Without it the
	// fleet can be planned but not applied.
	HookCommand []string
}

// Close stops every demo server. The directory is left for the caller.
func (f *Fleet) Close() {
	if f.hooks != nil {
		f.hooks.close()
	}
	var wg sync.WaitGroup
	for _, c := range f.running {
		wg.Go(c.close)
	}
	wg.Wait()
}

// Start builds the demo fleet under dir (created if missing) and seeds each
// cluster with its part of the story.
func Start(ctx context.Context, dir string) (*Fleet, error) {
	return StartWith(ctx, dir, Options{})
}

// StartWith is Start with options.
func StartWith(ctx context.Context, dir string, opts Options) (_ *Fleet, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	certs, err := pki.Generate(filepath.Join(dir, "certs"), pki.Options{})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	f := &Fleet{Dir: dir, Inventory: filepath.Join(dir, "fleet.yaml"), opts: opts}
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
	if len(opts.HookCommand) > 0 {
		if err := f.serveHooks(); err != nil {
			return nil, err
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
		if st.declared != "" {
			fmt.Fprintf(&b, "    kubernetes_backend: %s\n", st.declared)
		}
		if st.hooks && len(f.opts.HookCommand) > 0 {
			b.WriteString("    # Writer hooks: the running demo stands in for this cluster's API servers (etcdaudit demo hook --help).\n")
			b.WriteString("    hooks:\n")
			for _, h := range [][]string{
				{"stop_writers", "stop_writers", "{{.Cluster}}"},
				{"start_writers", "start_writers", "{{.Cluster}}"},
				{"set_backend", "set_backend", "{{.Cluster}}", "{{.Backend}}"},
				{"verify", "verify", "{{.Cluster}}"},
			} {
				var args []string
				for _, a := range append(append([]string{}, f.opts.HookCommand...), h[1:]...) {
					args = append(args, strconv.Quote(a))
				}
				fmt.Fprintf(&b, "      %s: [%s]\n", h[0], strings.Join(args, ", "))
			}
		}
		if rc.spec.tls != nil {
			fmt.Fprintf(&b, "    tls:\n      ca: %s\n      cert: %s\n      key: %s\n",
				rel(certs.CA), rel(certs.ClientCert), rel(certs.ClientKey))
		}
	}
	return b.String()
}
