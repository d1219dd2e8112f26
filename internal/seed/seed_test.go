package seed_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// countLeased reads full key-values (keys-only drops leases on 3.7) and
// counts keys under prefix with and without a lease.
func countLeased(t *testing.T, ctx context.Context, cli *clientv3.Client, prefix string) (leased, unleased int) {
	t.Helper()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("get %s: %v", prefix, err)
	}
	for _, kv := range resp.Kvs {
		if kv.Lease != 0 {
			leased++
		} else {
			unleased++
		}
	}
	return leased, unleased
}

func TestV3KeysAndEvents(t *testing.T) {
	c := etcdtest.NewCluster(t)
	cli := c.Client(t)
	ctx := testCtx(t)

	n, err := seed.V3Keys(ctx, cli, "/app/", 1000)
	if err != nil || n != 1000 {
		t.Fatalf("V3Keys = %d, %v; want 1000", n, err)
	}
	resp, err := cli.Get(ctx, "/app/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 1000 {
		t.Fatalf("count /app/ = %v, %v; want 1000", resp, err)
	}

	res, err := seed.Events(ctx, cli, "/registry/events/", 2500, 300, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res.Leased != 2500 || res.Unleased != 300 || len(res.Leases) != 3 {
		t.Fatalf("Events = %+v; want 2500 leased on 3 leases, 300 unleased", res)
	}
	leased, unleased := countLeased(t, ctx, cli, "/registry/events/")
	if leased != 2500 || unleased != 300 {
		t.Fatalf("found %d leased, %d unleased; want 2500, 300", leased, unleased)
	}
	ttl, err := cli.TimeToLive(ctx, res.Leases[2], clientv3.WithAttachedKeys())
	if err != nil || len(ttl.Keys) != 500 {
		t.Fatalf("lease 3 holds %d keys (%v); want 500", len(ttl.Keys), err)
	}
}

func TestHostileKeys(t *testing.T) {
	c := etcdtest.NewCluster(t)
	cli := c.Client(t)
	ctx := testCtx(t)
	keys, err := seed.HostileKeys(ctx, cli, "/registry/events/")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(seed.HostileNames()) {
		t.Fatalf("%d keys, want %d", len(keys), len(seed.HostileNames()))
	}
	for _, k := range keys {
		resp, err := cli.Get(ctx, k)
		if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != seed.HostileValue {
			t.Errorf("key %q: %v %v", k, resp, err)
		}
	}
	longest := 0
	for _, k := range keys {
		longest = max(longest, len(k)-len("/registry/events/"))
	}
	if longest != seed.LongKeyLen {
		t.Errorf("longest name %d bytes, want %d", longest, seed.LongKeyLen)
	}
}

func TestRegistryV3(t *testing.T) {
	c := etcdtest.NewCluster(t)
	cli := c.Client(t)
	ctx := testCtx(t)
	spec := seed.Registry{Namespaces: 3, PodsPerNamespace: 40, ServicesPerNamespace: 5, EventsPerNamespace: 500, EventTTL: time.Hour}
	res, err := seed.RegistryV3(ctx, cli, spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Namespaces != 3 || res.Pods != 120 || res.Services != 15 || res.Events != 1500 || res.Keys != 1638 || len(res.Leases) != 2 {
		t.Fatalf("RegistryV3 = %+v", res)
	}
	all, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix())
	if err != nil || len(all.Kvs) != 1638 {
		t.Fatalf("found %d keys (%v), want 1638", len(all.Kvs), err)
	}
	for _, kv := range all.Kvs {
		if !strings.HasPrefix(string(kv.Value), "k8s\x00") {
			t.Fatalf("%s: value lacks the k8s\\x00 magic", kv.Key)
		}
	}
	if l, u := countLeased(t, ctx, cli, "/registry/events/"); l != 1500 || u != 0 {
		t.Fatalf("events: %d leased, %d unleased; want 1500, 0", l, u)
	}
	if l, _ := countLeased(t, ctx, cli, "/registry/pods/"); l != 0 {
		t.Fatalf("%d pods hold a lease", l)
	}

	// Without a TTL events carry no lease: the state etcdctl migrate left.
	res, err = seed.RegistryV3(ctx, cli, seed.Registry{Prefix: "/migrated", Namespaces: 1, EventsPerNamespace: 10})
	if err != nil || res.Events != 10 || len(res.Leases) != 0 {
		t.Fatalf("unleased RegistryV3 = %+v, %v", res, err)
	}
	if l, u := countLeased(t, ctx, cli, "/migrated/events/"); l != 0 || u != 10 {
		t.Fatalf("migrated events: %d leased, %d unleased; want 0, 10", l, u)
	}
}
