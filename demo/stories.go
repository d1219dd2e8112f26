package demo

import (
	"context"
	"fmt"
	"net/http"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdaudit/etcdaudit/internal/pki"
	"github.com/etcdaudit/etcdaudit/internal/seed"
)

// story is one demo cluster: how it is built, labelled and seeded.
type story struct {
	spec         clusterSpec
	story        string
	region, tier string
	declared     string // Kubernetes backend the operator believes in ("": not declared)
	// hooks: the inventory gets the writer hooks (stop_writers,
	// start_writers, set_backend, verify) driving the demo's stand-in for
	// the cluster's API servers, which run on backend.
	hooks   bool
	backend string
	seed    func(context.Context, target) error
}

// target is what a story seeds through: a v3 client of the whole cluster,
// and an HTTP client and endpoint for the v2 keys API.
type target struct {
	cli      *clientv3.Client
	hc       *http.Client
	endpoint string
}

// eventTTL is the apiserver's default --event-ttl; the demo's leases must
// outlive a demo session, so they are granted for it.
const eventTTL = time.Hour

// stories are the seed's fleet, stage by stage.
func stories(certs *pki.Files) []story {
	registry := seed.Registry{Namespaces: 3, PodsPerNamespace: 6, ServicesPerNamespace: 2, EventsPerNamespace: 8}
	return []story{
		{
			spec:     clusterSpec{name: "legacy", members: 1, v2: true},
			story:    "Kubernetes still on the etcd2 backend: its whole /registry lives in the v2 store",
			region:   "eu-west",
			tier:     "small",
			hooks:    true,
			declared: "etcd2",
			backend:  "etcd2",
			seed: func(ctx context.Context, t target) error {
				r := registry
				r.EventTTL = eventTTL
				_, err := seed.RegistryV2(ctx, t.hc, t.endpoint, r)
				return err
			},
		},
		{
			spec:     clusterSpec{name: "half-migrated", members: 3, v2: true},
			story:    "copied to v3 by an offline migration, but events lost their TTLs and v2 leftovers remain",
			region:   "us-east",
			tier:     "medium",
			declared: "etcd3",
			seed: func(ctx context.Context, t target) error {
				r := registry
				r.EventTTL = 0 // etcdctl migrate copied events without their TTLs
				if _, err := seed.RegistryV3(ctx, t.cli, r); err != nil {
					return err
				}
				_, err := seed.V2Keys(ctx, t.hc, t.endpoint,
					seed.V2Spec{Prefix: "/registry/leftovers", Dirs: 2, Keys: 6, JSON: true})
				return err
			},
		},
		{
			spec:     clusterSpec{name: "compliant", members: 3, tls: certs},
			story:    "etcd3 backend, events leased, v2 off, TLS with client certificates",
			region:   "us-west",
			tier:     "large",
			declared: "etcd3",
			seed: func(ctx context.Context, t target) error {
				r := registry
				r.EventTTL = eventTTL
				_, err := seed.RegistryV3(ctx, t.cli, r)
				return err
			},
		},
	}
}

// seedCluster runs a story's seeder against its started cluster.
func seedCluster(ctx context.Context, st story, rc *runningCluster) error {
	cfg := clientv3.Config{Endpoints: rc.clients, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	// A transport of its own, closed when seeding ends: an idle connection
	// left in a shared pool (Go's default transport keeps them 90 s, and
	// may dial one that never carries a request) stalls the member's
	// shutdown, whose connection sniffer waits for that connection's first
	// byte (cmux, no read deadline in embed).
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	if rc.spec.tls != nil {
		tc, err := rc.spec.tls.ClientTLS(true)
		if err != nil {
			return err
		}
		cfg.TLS = tc
		tr.TLSClientConfig = tc
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cli.Close()
	if err := st.seed(ctx, target{cli: cli, hc: hc, endpoint: rc.clients[0]}); err != nil {
		return err
	}
	// The scan reads each member's own store: every member must hold what
	// was seeded, not just a quorum.
	return seed.Converged(ctx, cli, rc.clients)
}
