package seed_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
)

type v2Node struct {
	Key   string    `json:"key"`
	Dir   bool      `json:"dir"`
	Value string    `json:"value"`
	TTL   int64     `json:"ttl"`
	Nodes []*v2Node `json:"nodes"`
}

// v2Walk lists key (recursively, quorum off) and counts what it holds below it.
func v2Walk(t *testing.T, ctx context.Context, hc *http.Client, endpoint, key string) (dirs, keys, ttlDirs, ttlKeys int, values []string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/v2/keys"+seed.EscapeV2Path(key)+"?recursive=true", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("v2 get %s: %v", key, err)
	}
	defer resp.Body.Close()
	var body struct{ Node v2Node }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("v2 get %s: %s %v", key, resp.Status, err)
	}
	var walk func(n *v2Node)
	walk = func(n *v2Node) {
		for _, c := range n.Nodes {
			if c.Dir {
				dirs++
				if c.TTL > 0 {
					ttlDirs++
				}
				walk(c)
				continue
			}
			keys++
			if c.TTL > 0 {
				ttlKeys++
			}
			values = append(values, c.Value)
		}
	}
	walk(&body.Node)
	return
}

func TestV2Keys(t *testing.T) {
	for _, v := range []string{"3.4", "3.5", etcdtest.Embed} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			c := etcdtest.NewCluster(t, etcdtest.WithVersion(v), etcdtest.WithV2())
			hc, ep := c.HTTPClient(), c.Endpoints()[0]
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			spec := seed.V2Spec{Prefix: "/legacy/app", Dirs: 3, Keys: 30, TTLKeys: 4, TTLDirs: 2, JSON: true}
			res, err := seed.V2Keys(ctx, hc, ep, spec)
			if err != nil {
				t.Fatal(err)
			}
			want := seed.V2Result{Keys: 34, TTLKeys: 4, Dirs: 2 + 3 + 2, TTLDirs: 2}
			if res != want {
				t.Fatalf("V2Keys = %+v, want %+v", res, want)
			}
			dirs, keys, ttlDirs, ttlKeys, values := v2Walk(t, ctx, hc, ep, "/legacy")
			if dirs+1 != res.Dirs || keys != res.Keys || ttlDirs != 2 || ttlKeys != 4 {
				t.Fatalf("store holds %d dirs (+/legacy), %d keys, %d ttl dirs, %d ttl keys; seeder said %+v", dirs, keys, ttlDirs, ttlKeys, res)
			}
			for _, val := range values {
				if !json.Valid([]byte(val)) {
					t.Fatalf("value %q is not JSON", val)
				}
			}
			// A second run finds the prefix and does not count it again.
			res, err = seed.V2Keys(ctx, hc, ep, seed.V2Spec{Prefix: "/legacy/app/more", Keys: 1})
			if err != nil || res.Dirs != 1 || res.Keys != 1 {
				t.Fatalf("second V2Keys = %+v, %v; want 1 dir, 1 key", res, err)
			}

			reg, err := seed.RegistryV2(ctx, hc, ep, seed.Registry{Namespaces: 2, PodsPerNamespace: 5, ServicesPerNamespace: 2, EventsPerNamespace: 3, EventTTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if reg.Keys != 2+10+4+6 || reg.Events != 6 {
				t.Fatalf("RegistryV2 = %+v", reg)
			}
			// /registry/{namespaces,pods,services,services/specs,events} + per-ns
			// dirs under pods, services/specs and events.
			if reg.Dirs != 1+5+3*2 {
				t.Fatalf("RegistryV2 dirs = %d, want 12", reg.Dirs)
			}
			dirs, keys, _, ttlKeys, values = v2Walk(t, ctx, hc, ep, "/registry")
			if dirs+1 != reg.Dirs || keys != reg.Keys || ttlKeys != 6 {
				t.Fatalf("registry holds %d dirs, %d keys, %d ttl keys; seeder said %+v", dirs+1, keys, ttlKeys, reg)
			}
			for _, val := range values {
				if !strings.HasPrefix(val, `{"apiVersion":"v1"`) {
					t.Fatalf("registry value %q is not a JSON object", val)
				}
			}
		})
	}
}

func TestV2KeysWithoutV2API(t *testing.T) {
	c := etcdtest.NewCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := seed.V2Keys(ctx, c.HTTPClient(), c.Endpoints()[0], seed.V2Spec{Keys: 1})
	if err == nil || !strings.Contains(err.Error(), "--enable-v2") {
		t.Fatalf("err = %v; want one naming --enable-v2", err)
	}
}

func TestHostileV2Keys(t *testing.T) {
	for _, v := range []string{"3.4", etcdtest.Embed} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			c := etcdtest.NewCluster(t, etcdtest.WithVersion(v), etcdtest.WithV2())
			hc, ep := c.HTTPClient(), c.Endpoints()[0]
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			keys, err := seed.HostileV2Keys(ctx, hc, ep, "/hostile")
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, n := range seed.HostileNames() {
				if !strings.Contains(n, "/") {
					want++
				}
			}
			if len(keys) != want || want < 10 {
				t.Fatalf("%d keys written, want %d (the names without a slash)", len(keys), want)
			}
			_, n, _, _, values := v2Walk(t, ctx, hc, ep, "/hostile")
			if n != len(keys) {
				t.Fatalf("store holds %d keys, seeder wrote %d", n, len(keys))
			}
			for _, val := range values {
				// The v2 API is JSON: NUL and ESC survive, \xff does not.
				if !strings.HasPrefix(val, "<script>alert('value')</script>\x00") {
					t.Fatalf("value %q", val)
				}
			}
		})
	}
}
