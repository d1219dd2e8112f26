package inventory

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
)

// TestExpiredTokenRenewedForHashKV: once the Conn's token has expired on
// every member (--auth-token-ttl=1, nothing using it), HashKV on every
// member at once — what the hashkv collector does — still succeeds and the
// cluster pays for one new login, not one per member. On 3.4 and 3.5 the
// rejection of HashKV's token arrives untranslated (code Unknown, "auth:
// invalid auth token"), the way a member that has not applied a login
// answers too.
func TestExpiredTokenRenewedForHashKV(t *testing.T) {
	for _, v := range etcdtest.ProcessVersions() {
		t.Run(v, func(t *testing.T) {
			etcdtest.RequireVersion(t, v)
			ec := etcdtest.NewCluster(t, etcdtest.WithVersion(v), etcdtest.WithAuth(), etcdtest.WithMembers(3),
				etcdtest.WithFlags("--auth-token-ttl=1"))
			t.Setenv("ETCDAUDIT_TEST_PW", ec.RootPassword)
			c := quickCluster("ttl", 10*time.Second, ec.Endpoints()...)
			c.Auth = Auth{User: "root", PasswordEnv: "ETCDAUDIT_TEST_PW"}
			conn := mustConnect(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			var members []*clientv3.Client
			for _, ep := range ec.Endpoints() {
				cli, err := clientv3.New(conn.ClientConfig([]string{ep}))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cli.Close() })
				if _, err := etcdserverpb.NewMaintenanceClient(cli.ActiveConnection()).Status(ctx, &etcdserverpb.StatusRequest{}); err != nil {
					t.Fatalf("Status %s: %v", ep, err)
				}
				members = append(members, cli)
			}
			tok, ok := conn.tokens.cached()
			if !ok || tok == "" {
				t.Fatal("no token cached after the first calls")
			}
			// The raft indexes are read through the Conn's own clients while
			// its token is valid: before it expires, and after the renewal.
			before := settledIndexes(ctx, t, members)
			waitTokenExpired(ctx, t, plainClients(t, conn, ec.Endpoints()), tok)

			errs := make([]error, len(members))
			var wg sync.WaitGroup
			for i, cli := range members {
				wg.Go(func() {
					_, errs[i] = etcdserverpb.NewMaintenanceClient(cli.ActiveConnection()).HashKV(ctx, &etcdserverpb.HashKVRequest{})
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("HashKV %s with an expired token: %v", ec.Endpoints()[i], err)
				}
			}
			after := readIndexes(ctx, t, members)
			if d := slices.Max(after) - slices.Max(before); d != 1 {
				t.Errorf("raft index moved by %d for three HashKV calls on an expired token; want 1 (one new login)", d)
			}
		})
	}
}

func plainClients(t *testing.T, conn *Conn, endpoints []string) []*clientv3.Client {
	t.Helper()
	var out []*clientv3.Client
	for _, ep := range endpoints {
		cli, err := clientv3.New(conn.plainConfig([]string{ep}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		out = append(out, cli)
	}
	return out
}

func readIndexes(ctx context.Context, t *testing.T, clis []*clientv3.Client) []uint64 {
	t.Helper()
	var out []uint64
	for _, cli := range clis {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := etcdserverpb.NewMaintenanceClient(cli.ActiveConnection()).Status(cctx, &etcdserverpb.StatusRequest{})
		cancel()
		if err != nil {
			t.Fatalf("Status %s: %v", cli.Endpoints(), err)
		}
		out = append(out, st.RaftIndex)
	}
	return out
}

// settledIndexes waits until the raft indexes stop moving (the leader still
// proposes the cluster version right after start).
func settledIndexes(ctx context.Context, t *testing.T, clis []*clientv3.Client) []uint64 {
	t.Helper()
	prev := readIndexes(ctx, t, clis)
	for range 30 {
		time.Sleep(300 * time.Millisecond)
		cur := readIndexes(ctx, t, clis)
		if slices.Equal(prev, cur) {
			return cur
		}
		prev = cur
	}
	t.Fatalf("raft indexes never settled: %v", prev)
	return nil
}

// waitTokenExpired waits until every member rejects tok on a Range (3.4
// does not check the token on Status). A member resets a simple token's TTL
// each time it accepts it, so the check runs only after a pause longer than
// the TTL plus the 1 s sweep of etcd's token keeper.
func waitTokenExpired(ctx context.Context, t *testing.T, clis []*clientv3.Client, tok string) {
	t.Helper()
	for range 20 {
		time.Sleep(2500 * time.Millisecond)
		expired := 0
		for _, cli := range clis {
			cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, tok), 5*time.Second)
			_, err := etcdserverpb.NewKVClient(cli.ActiveConnection()).Range(cctx, &etcdserverpb.RangeRequest{Key: []byte("/probe")})
			cancel()
			switch {
			case errors.Is(rpctypes.Error(err), rpctypes.ErrInvalidAuthToken):
				expired++
			case err != nil:
				t.Fatalf("Range with the old token: %v", err)
			}
		}
		if expired == len(clis) {
			return
		}
	}
	t.Fatal("the token never expired on every member")
}
