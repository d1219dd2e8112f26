package demo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
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
	declared     string // Kubernetes backend the operator believes in
	seed         func(context.Context, *runningCluster) error
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
			declared: "etcd2",
			seed: func(ctx context.Context, rc *runningCluster) error {
				r := registry
				r.EventTTL = eventTTL
				_, err := seed.RegistryV2(ctx, &http.Client{Timeout: 10 * time.Second}, rc.clients[0], r)
				return err
			},
		},
		{
			spec:     clusterSpec{name: "half-migrated", members: 3, v2: true},
			story:    "copied to v3 by an offline migration, but events lost their TTLs and v2 leftovers remain",
			region:   "us-east",
			tier:     "medium",
			declared: "etcd3",
			seed: func(ctx context.Context, rc *runningCluster) error {
				cli, err := client(rc, nil)
				if err != nil {
					return err
				}
				defer cli.Close()
				r := registry
				r.EventTTL = 0 // etcdctl migrate copied events without their TTLs
				if _, err := seed.RegistryV3(ctx, cli, r); err != nil {
					return err
				}
				_, err = seed.V2Keys(ctx, &http.Client{Timeout: 10 * time.Second}, rc.clients[0],
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
			seed: func(ctx context.Context, rc *runningCluster) error {
				cli, err := client(rc, certs)
				if err != nil {
					return err
				}
				defer cli.Close()
				r := registry
				r.EventTTL = eventTTL
				_, err = seed.RegistryV3(ctx, cli, r)
				return err
			},
		},
	}
}

// client connects to a demo cluster to seed it.
func client(rc *runningCluster, certs *pki.Files) (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: rc.clients, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if certs != nil {
		pem, err := os.ReadFile(certs.CA)
		if err != nil {
			return nil, fmt.Errorf("read CA: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		pair, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.TLS = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", rc.spec.name, err)
	}
	return cli, nil
}
