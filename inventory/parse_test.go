package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const testdata = "../testdata/inventory"

// normalise makes messages independent of where the tests run from.
func normalise(s string) string {
	abs, _ := filepath.Abs(testdata)
	s = strings.ReplaceAll(s, filepath.Join(testdata, "bad")+"/", "")
	s = strings.ReplaceAll(s, filepath.Join(abs, "certs"), "certs")
	return s
}

// TestBadInventories loads every bad/*.yaml: each must fail with exactly the
// problems its .want lists (one substring per problem, in file order), and
// no inline secret may leak into the message.
func TestBadInventories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata, "bad", "*.yaml"))
	if err != nil || len(files) < 14 {
		t.Fatalf("want at least 14 bad inventories, found %d (%v)", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			wantData, err := os.ReadFile(strings.TrimSuffix(file, ".yaml") + ".want")
			if err != nil {
				t.Fatalf("every bad file needs a .want: %v", err)
			}
			want := strings.Split(strings.TrimSpace(string(wantData)), "\n")
			fleet, err := Load(file)
			if err == nil {
				t.Fatalf("Load succeeded with %d clusters; want problems:\n%s", len(fleet.Clusters), wantData)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T, want *ValidationError: %v", err, err)
			}
			for _, secret := range []string{"hunter2", "hunter9", "123456"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the secret %q leaked into the error:\n%v", secret, err)
				}
			}
			if len(ve.Problems) != len(want) {
				t.Errorf("got %d problems, want %d:\n%s", len(ve.Problems), len(want), normalise(err.Error()))
			}
			for i, w := range want {
				if i >= len(ve.Problems) {
					break
				}
				if got := normalise(ve.Problems[i].String()); !strings.Contains(got, w) {
					t.Errorf("problem %d:\n got: %s\nwant: %s", i, got, w)
				}
			}
		})
	}
}

func TestMinimal(t *testing.T) {
	f, err := Load(filepath.Join(testdata, "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "minimal" || len(f.Clusters) != 1 {
		t.Fatalf("name %q, %d clusters; want the file's base name and 1 cluster", f.Name, len(f.Clusters))
	}
	c := f.Clusters[0]
	want := Collect{EventsPrefix: DefaultEventsPrefix, RegistryPrefix: DefaultRegistryPrefix, PageSize: DefaultPageSize,
		DialTimeout: DefaultDialTimeout, CommandTimeout: DefaultCommandTimeout, KeyspaceTimeout: DefaultKeyspaceTimeout}
	if c.Name != "dev" || !reflect.DeepEqual(c.Endpoints, []string{"http://127.0.0.1:2379"}) || c.Collect != want || c.Line != 4 {
		t.Fatalf("cluster = %+v", c)
	}
}

// TestDefaultsInheritance checks full.yaml field by field: defaults are
// inherited, labels and hooks merged, a cluster's own value wins, and one
// password source or cert/key pair replaces the default's as a whole.
func TestDefaultsInheritance(t *testing.T) {
	// git keeps no permission bits but x: make the example's secret 0600 as
	// an operator would, so full.yaml validates without warnings.
	if err := os.Chmod(filepath.Join(testdata, "secrets", "etcd-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(filepath.Join(testdata, "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(testdata)
	if f.Name != "prod-fleet" || len(f.Clusters) != 3 {
		t.Fatalf("fleet %q with %d clusters", f.Name, len(f.Clusters))
	}
	small, large, plain := f.Clusters[0], f.Clusters[1], f.Clusters[2]

	if !reflect.DeepEqual(small.Labels, map[string]string{"owner": "sre-etcd", "region": "westeurope", "tier": "small"}) {
		t.Errorf("small labels = %v", small.Labels)
	}
	if !reflect.DeepEqual(large.Labels, map[string]string{"owner": "sre-etcd", "region": "northeurope", "tier": "large"}) {
		t.Errorf("large labels = %v (the cluster's region must win)", large.Labels)
	}
	if small.TLS.CA != filepath.Join(abs, "certs/ca.pem") || large.TLS.Cert != filepath.Join(abs, "certs/client.pem") {
		t.Errorf("TLS paths not resolved against the inventory's dir: %+v / %+v", small.TLS, large.TLS)
	}
	if large.TLS.ServerName != "etcd-large.example.internal" || large.TLS.Key == "" {
		t.Errorf("large TLS = %+v (server_name set, key inherited)", large.TLS)
	}
	if small.Auth.User != "auditor" || small.Auth.PasswordEnv != "ETCDAUDIT_PASSWORD" {
		t.Errorf("small auth = %+v", small.Auth)
	}
	if large.Auth.User != "root" || large.Auth.PasswordEnv != "" || large.Auth.PasswordFile != filepath.Join(abs, "secrets/etcd-password") {
		t.Errorf("large auth = %+v: password_file must replace the default password_env", large.Auth)
	}
	if small.KubernetesBackend != "etcd3" || large.KubernetesBackend != "etcd2" {
		t.Errorf("backends %q %q", small.KubernetesBackend, large.KubernetesBackend)
	}
	if large.Collect.CommandTimeout != 10*time.Second || large.Collect.PageSize != 5000 || large.Collect.DialTimeout != 3*time.Second {
		t.Errorf("large collect = %+v", large.Collect)
	}
	if small.Collect.KeyspaceTimeout != 2*time.Minute || small.Collect.EventsPrefix != "/registry/events/" {
		t.Errorf("small collect = %+v", small.Collect)
	}
	if len(small.Hooks) != 2 || len(large.Hooks) != 3 || large.Hooks["stop_apiserver"][5] != "kube-apiserver" {
		t.Errorf("hooks not merged: small %v, large %v", small.Hooks, large.Hooks)
	}
	if !reflect.DeepEqual(small.HookTimeouts, map[string]time.Duration{"install_version": 10 * time.Minute, "stop_etcd": 90 * time.Second}) ||
		!reflect.DeepEqual(large.HookTimeouts, map[string]time.Duration{"install_version": 20 * time.Minute, "stop_etcd": 90 * time.Second}) {
		t.Errorf("hook timeouts not merged: small %v, large %v", small.HookTimeouts, large.HookTimeouts)
	}
	if small.Hooks["stop_etcd"][1] != "{{.Host}}" {
		t.Errorf("hook templates must stay verbatim: %v", small.Hooks["stop_etcd"])
	}
	if plain.TLS.InsecureSkipVerify || plain.Tier() != "medium" || plain.Region() != "westeurope" {
		t.Errorf("plain = %+v", plain)
	}
	if len(f.Warnings) != 0 {
		t.Errorf("full.yaml should validate without warnings: %v", f.Warnings)
	}
}

// TestRoundTrip marshals each good inventory and parses it back unchanged:
// what the tool writes (the demo, generated fleets) it must also read.
func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"minimal.yaml", "full.yaml"} {
		t.Run(name, func(t *testing.T) {
			f, err := Load(filepath.Join(testdata, name))
			if err != nil {
				t.Fatal(err)
			}
			out, err := yaml.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), "000000000") {
				t.Errorf("durations marshalled as nanoseconds:\n%s", out)
			}
			back, err := Parse(filepath.Join(testdata, "roundtrip.yaml"), out)
			if err != nil {
				t.Fatalf("re-parse: %v\n%s", err, out)
			}
			for i := range back.Clusters {
				back.Clusters[i].Line = f.Clusters[i].Line
			}
			back.Source = f.Source
			if !reflect.DeepEqual(f, back) {
				t.Errorf("round trip changed the fleet:\n before %+v\n after  %+v", f, back)
			}
		})
	}
}

// TestHostileYAML: inputs that have crashed or hung YAML tools elsewhere.
func TestHostileYAML(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
		"clusters:\n  - name: a\n    endpoints: *d\n"
	wideAlias := "x: &l {" + strings.Repeat("k: v, ", 1) + "tier: small}\nclusters:\n" +
		strings.Repeat("  - {name: n, endpoints: [http://h:1], labels: *l}\n", 200)
	for name, in := range map[string]string{
		"billion laughs":  laughs,
		"wide alias":      wideAlias,
		"deep nesting":    "clusters: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000),
		"unknown anchor":  "clusters: *nope\n",
		"binary":          "\x00\xff\xfe",
		"tag":             "clusters: !!binary aGVsbG8=\n",
		"self alias":      "a: &a [*a]\n",
		"only comment":    "# nothing\n",
		"null doc":        "~\n",
		"scalar doc":      "hello\n",
		"key is mapping":  "? {a: b}\n: c\nclusters: []\n",
		"huge int":        "clusters:\n  - name: a\n    endpoints: [http://h:1]\n    collect: {page_size: 99999999999999999999999}\n",
		"duration ovfl":   "clusters:\n  - name: a\n    endpoints: [http://h:1]\n    collect: {command_timeout: 9999999999999h}\n",
		"nul in path":     "clusters:\n  - name: a\n    endpoints: [http://h:1]\n    tls: {ca: \"a\\0b\"}\n",
		"control in name": "clusters:\n  - name: \"a\\x1b[31m\"\n    endpoints: [http://h:1]\n",
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := Parse("hostile.yaml", []byte(in))
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("accepted hostile input %q", truncate(in, 80))
				}
				if strings.Contains(err.Error(), "internal error") {
					t.Fatalf("a panic was caught: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Parse did not return within 10s")
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %v", err)
	}
}

func TestSuggest(t *testing.T) {
	for got, want := range map[string]string{"endpiont": "endpoints", "Endpoints": "endpoints", "server-name": "server_name", "colour": "", "x": ""} {
		if s := suggest(got, append(clusterFields, tlsFields...)); s != want {
			t.Errorf("suggest(%q) = %q, want %q", got, s, want)
		}
	}
}

func TestWarnings(t *testing.T) {
	f, err := Load(filepath.Join(testdata, "warnings.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wantData, err := os.ReadFile(filepath.Join(testdata, "warnings.want"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(wantData)), "\n")
	if len(f.Warnings) != len(want) {
		t.Fatalf("got %d warnings, want %d: %v", len(f.Warnings), len(want), f.Warnings)
	}
	for i, w := range want {
		if got := f.Warnings[i].String(); !strings.Contains(got, w) {
			t.Errorf("warning %d:\n got: %s\nwant: %s", i, got, w)
		}
	}

	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv := "clusters:\n  - name: a\n    endpoints: [https://h:1]\n    auth: {user: u, password_file: pw}\n"
	f, err = Parse(filepath.Join(dir, "f.yaml"), []byte(inv))
	if err != nil || len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0].Message, "readable by other users (mode 0644)") {
		t.Fatalf("world-readable password file: %v %v", err, f)
	}
	if err := os.Chmod(pw, 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err = Parse(filepath.Join(dir, "f.yaml"), []byte(inv)); err != nil || len(f.Warnings) != 0 {
		t.Fatalf("0600 password file: %v %v", err, f.Warnings)
	}
}
