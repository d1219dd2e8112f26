package collectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/inventory"
)

// fleetFor describes a test cluster the way an operator's inventory would.
func fleetFor(t *testing.T, name string, c *etcdtest.Cluster) *inventory.Fleet {
	t.Helper()
	ic := inventory.Cluster{Name: name, Endpoints: c.Endpoints()}
	ic.Collect.CommandTimeout = 3 * time.Second
	ic.Collect.DialTimeout = 2 * time.Second
	if c.TLS != nil {
		ic.TLS = inventory.TLS{CA: c.TLS.CA, Cert: c.TLS.ClientCert, Key: c.TLS.ClientKey}
	}
	if c.RootPassword != "" {
		env := "ETCDAUDIT_TEST_PW_" + strings.ToUpper(name)
		t.Setenv(env, c.RootPassword)
		ic.Auth = inventory.Auth{User: "root", PasswordEnv: env}
	}
	return &inventory.Fleet{Name: "test", Clusters: []inventory.Cluster{ic}}
}

// fleetForBench is fleetFor for a plain (no TLS, no auth) test cluster.
func fleetForBench(c *etcdtest.Cluster) *inventory.Fleet {
	return &inventory.Fleet{Name: "bench", Clusters: []inventory.Cluster{{Name: "bench", Endpoints: c.Endpoints()}}}
}

func run(t *testing.T, fleet *inventory.Fleet, opts collectors.Options) *collectors.Facts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, err := collectors.Run(ctx, fleet, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	validate(t, f)
	return f
}

// validate checks real output against the repository's JSON Schema.
func validate(t *testing.T, f *collectors.Facts) {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := factsSchema(t).Validate(doc); err != nil {
		t.Fatalf("facts do not match schema/facts.schema.json: %v\n%s", err, b)
	}
}

func factsSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "schema", "facts.schema.json")
	c := jsonschema.NewCompiler()
	s, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return s
}

func member(t *testing.T, f *collectors.Facts, name string) *collectors.MemberFacts {
	t.Helper()
	for ci := range f.Clusters {
		for mi := range f.Clusters[ci].Members {
			if f.Clusters[ci].Members[mi].Name == name {
				return &f.Clusters[ci].Members[mi]
			}
		}
	}
	t.Fatalf("member %s not in facts: %s", name, dump(f))
	return nil
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// noErrors fails when any collector failed anywhere.
func noErrors(t *testing.T, f *collectors.Facts) {
	t.Helper()
	for _, c := range f.Clusters {
		if len(c.Errors) > 0 || c.DiscoveryErr != "" {
			t.Fatalf("cluster %s errors: %v %s", c.Name, c.Errors, c.DiscoveryErr)
		}
		for _, m := range c.Members {
			if len(m.Errors) > 0 {
				t.Fatalf("member %s errors: %v", m.Name, m.Errors)
			}
		}
	}
}

// v2Put writes a v2 key (or a directory when value is "" and dir is set).
func v2Put(t *testing.T, c *etcdtest.Cluster, key, value string, dir bool, ttl int) {
	t.Helper()
	form := url.Values{}
	if dir {
		form.Set("dir", "true")
	} else {
		form.Set("value", value)
	}
	if ttl > 0 {
		form.Set("ttl", fmt.Sprint(ttl))
	}
	req, err := http.NewRequest(http.MethodPut, c.Members[0].ClientURL+"/v2/keys"+key, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("v2 put %s: %v", key, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("v2 put %s: HTTP %d %s", key, resp.StatusCode, body)
	}
}

// seedV3 writes n keys named fmt.Sprintf(format, i).
func seedV3(t *testing.T, cli *clientv3.Client, format string, n int, opts ...clientv3.OpOption) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range n {
		if _, err := cli.Put(ctx, fmt.Sprintf(format, i), "v", opts...); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
}

func grant(t *testing.T, cli *clientv3.Client, ttl int64) clientv3.LeaseID {
	t.Helper()
	resp, err := cli.Grant(context.Background(), ttl)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	return resp.ID
}

func runState(runs []collectors.CollectorRun, name string) collectors.RunState {
	for _, r := range runs {
		if r.Collector == name {
			return r.State
		}
	}
	return ""
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }
