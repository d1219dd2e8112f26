package seed_test

import (
	"context"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkEvents seeds b.N events keys (half leased, half not) into a fresh
// single server process of each version. `-benchtime 1000000x` measures the
// million-key seed the collector benchmarks start from:
//
//	go test ./internal/seed -run '^$' -bench 'Events/3.5' -benchtime 1000000x
func BenchmarkEvents(b *testing.B) {
	for _, v := range etcdtest.ProcessVersions() {
		b.Run(v, func(b *testing.B) {
			c := etcdtest.NewCluster(b, etcdtest.WithVersion(v))
			cli := c.Client(b)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			b.ResetTimer()
			res, err := seed.Events(ctx, cli, "/registry/events/", b.N/2, b.N-b.N/2, time.Hour)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if res.Leased+res.Unleased != b.N {
				b.Fatalf("wrote %d keys, want %d", res.Leased+res.Unleased, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
			resp, err := cli.Get(ctx, "/registry/events/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil || resp.Count != int64(b.N) {
				b.Fatalf("count = %v, %v; want %d", resp, err, b.N)
			}
		})
	}
}

// BenchmarkV2Keys writes b.N plain v2 keys over 10 directories, one HTTP PUT
// (one raft entry) each, on the versions that serve the v2 API.
func BenchmarkV2Keys(b *testing.B) {
	for _, v := range []string{"3.4", "3.5"} {
		b.Run(v, func(b *testing.B) {
			c := etcdtest.NewCluster(b, etcdtest.WithVersion(v), etcdtest.WithV2())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			b.ResetTimer()
			res, err := seed.V2Keys(ctx, c.HTTPClient(), c.Endpoints()[0], seed.V2Spec{Dirs: 10, Keys: b.N})
			b.StopTimer()
			if err != nil || res.Keys != b.N {
				b.Fatalf("V2Keys = %+v, %v; want %d keys", res, err, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}
