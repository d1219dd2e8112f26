package seed_test

import (
	"context"
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
