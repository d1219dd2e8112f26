package v2data

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdaudit/etcdaudit/internal/seed"
)

// The TestBench* functions are the steps of scripts/bench/remediation.sh,
// each run as its own process under /usr/bin/time against the server at
// ETCDAUDIT_BENCH_ENDPOINT (skipped without it).

func benchEndpoint(t *testing.T) string {
	ep := os.Getenv("ETCDAUDIT_BENCH_ENDPOINT")
	if ep == "" {
		t.Skip("ETCDAUDIT_BENCH_ENDPOINT not set (scripts/bench/remediation.sh sets it)")
	}
	return ep
}

func benchKeys(t *testing.T) int {
	n := 100_000
	if s := os.Getenv("ETCDAUDIT_BENCH_V2_KEYS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("ETCDAUDIT_BENCH_V2_KEYS: %v", err)
		}
	}
	return n
}

func benchV3(t *testing.T, ep string) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// TestBenchSeedV2 writes ETCDAUDIT_BENCH_V2_KEYS (default 100,000) v2 keys
// under /legacy over 100 directories, a tenth of them with a TTL of 6 h.
func TestBenchSeedV2(t *testing.T) {
	ep := benchEndpoint(t)
	n := benchKeys(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	start := time.Now()
	res, err := seed.V2Keys(context.Background(), &http.Client{Transport: tr, Timeout: 30 * time.Second}, ep,
		seed.V2Spec{Prefix: "/legacy", Dirs: 100, Keys: n - n/10, TTLKeys: n / 10, TTL: 6 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("seeded %d v2 keys (%d with a TTL) in %d directories in %s\n", res.Keys, res.TTLKeys, res.Dirs, time.Since(start).Round(time.Millisecond))
}

// TestBenchPlainTxnWrite is the baseline: the same number of keys, of the
// same sizes, written into v3 by plain batched transactions (128 puts, 4 in
// flight: the seeder's writer), no reads, no guards, no leases.
func TestBenchPlainTxnWrite(t *testing.T) {
	cli := benchV3(t, benchEndpoint(t))
	n := benchKeys(t)
	start := time.Now()
	w, err := seed.V3Keys(context.Background(), cli, "/plain/legacy/dir-000/key-", n)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("plain: wrote %d keys in %s\n", w, time.Since(start).Round(time.Millisecond))
}

// TestBenchCopy copies /legacy from v2 into v3 with Copy.
func TestBenchCopy(t *testing.T) {
	ep := benchEndpoint(t)
	cli := benchV3(t, ep)
	kapi, err := NewKeysAPI([]string{ep}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := Copy(context.Background(), kapi, cli, []string{"/legacy"}, CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("copy: %d keys copied, %d leased on %d leases in %s\n", rep.Copied, rep.Leased, len(rep.Leases), time.Since(start).Round(time.Millisecond))
}

// TestBenchVerifyCopy verifies the copy key by key (not part of the goal;
// its time is reported alongside).
func TestBenchVerifyCopy(t *testing.T) {
	ep := benchEndpoint(t)
	cli := benchV3(t, ep)
	kapi, err := NewKeysAPI([]string{ep}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := VerifyCopy(context.Background(), kapi, cli, []string{"/legacy"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("verify: %d keys matched in %s\n", rep.Matched, time.Since(start).Round(time.Millisecond))
}
