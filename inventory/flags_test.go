package inventory

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func setOf(flags ...string) func(string) bool {
	return func(f string) bool {
		for _, x := range flags {
			if x == f {
				return true
			}
		}
		return false
	}
}

func TestFromFlagsEnvAndPrecedence(t *testing.T) {
	certs, _ := filepath.Abs(filepath.Join(testdata, "certs"))
	env := map[string]string{
		"ETCDCTL_ENDPOINTS":                "10.0.0.1:2379, 10.0.0.2:2379,",
		"ETCDCTL_CACERT":                   filepath.Join(certs, "ca.pem"),
		"ETCDCTL_CERT":                     filepath.Join(certs, "client.pem"),
		"ETCDCTL_KEY":                      filepath.Join(certs, "client-key.pem"),
		"ETCDCTL_USER":                     "root:" + secret,
		"ETCDCTL_DIAL_TIMEOUT":             "4s",
		"ETCDCTL_COMMAND_TIMEOUT":          "9s",
		"ETCDCTL_INSECURE_SKIP_TLS_VERIFY": "true",
	}
	t.Run("env only", func(t *testing.T) {
		f, err := FromFlags(ConnFlags{Env: envOf(env), Set: setOf()})
		if err != nil {
			t.Fatal(err)
		}
		c := f.Clusters[0]
		if f.Source != "flags" || c.Name != "10.0.0.1-2379" {
			t.Errorf("source %q, name %q", f.Source, c.Name)
		}
		if !reflect.DeepEqual(c.Endpoints, []string{"https://10.0.0.1:2379", "https://10.0.0.2:2379"}) {
			t.Errorf("endpoints %v: scheme-less endpoints with TLS files become https", c.Endpoints)
		}
		if c.Collect.DialTimeout != 4*time.Second || c.Collect.CommandTimeout != 9*time.Second || !c.TLS.InsecureSkipVerify || c.TLS.Key == "" {
			t.Errorf("cluster %+v", c)
		}
		conn, err := Connect(c)
		if err != nil {
			t.Fatal(err)
		}
		if u, pw := conn.Credentials(); u != "root" || pw != secret {
			t.Errorf("ETCDCTL_USER=user:password gave %q/%q", u, pw)
		}
	})
	t.Run("flags win, even zero values", func(t *testing.T) {
		f, err := FromFlags(ConnFlags{
			Endpoints: []string{"http://10.0.0.9:2379"}, User: "alice", Password: "pw", InsecureSkipTLSVerify: false,
			CACert: "", DialTimeout: time.Second, Name: "mine",
			Env: envOf(env), Set: setOf("endpoints", "user", "password", "insecure-skip-tls-verify", "cacert", "dial-timeout"),
		})
		if err != nil {
			t.Fatal(err)
		}
		c := f.Clusters[0]
		if c.Name != "mine" || c.Endpoints[0] != "http://10.0.0.9:2379" || c.TLS.InsecureSkipVerify || c.TLS.CA != "" || c.Collect.DialTimeout != time.Second {
			t.Errorf("flags did not win: %+v", c)
		}
		if c.Collect.CommandTimeout != 9*time.Second || c.TLS.Cert == "" {
			t.Errorf("unset flags must still come from the environment: %+v", c)
		}
		conn, _ := Connect(c)
		if u, pw := conn.Credentials(); u != "alice" || pw != "pw" {
			t.Errorf("credentials %q/%q", u, pw)
		}
	})
	t.Run("ETCDCTL_PASSWORD", func(t *testing.T) {
		f, err := FromFlags(ConnFlags{Endpoints: []string{"127.0.0.1:2379"}, User: "bob",
			Env: envOf(map[string]string{"ETCDCTL_PASSWORD": secret})})
		if err != nil {
			t.Fatal(err)
		}
		conn, _ := Connect(f.Clusters[0])
		if u, pw := conn.Credentials(); u != "bob" || pw != secret || f.Clusters[0].Endpoints[0] != "http://127.0.0.1:2379" {
			t.Errorf("got %q/%q %v", u, pw, f.Clusters[0].Endpoints)
		}
	})
}

func TestFromFlagsErrors(t *testing.T) {
	none := envOf(nil)
	for name, tc := range map[string]struct {
		f    ConnFlags
		want []string
	}{
		"no endpoints":      {ConnFlags{Env: none}, []string{"no endpoints: give -f fleet.yaml, or --endpoints"}},
		"user, no password": {ConnFlags{Endpoints: []string{"h:1"}, User: "root", Env: none}, []string{"--user root has no password"}},
		"password, no user": {ConnFlags{Endpoints: []string{"h:1"}, Password: secret, Env: none}, []string{"without --user"}},
		"bad env duration": {ConnFlags{Endpoints: []string{"h:1"}, Env: envOf(map[string]string{"ETCDCTL_DIAL_TIMEOUT": "soon"})},
			[]string{`ETCDCTL_DIAL_TIMEOUT="soon": not a duration`}},
		"bad env bool": {ConnFlags{Endpoints: []string{"h:1"}, Env: envOf(map[string]string{"ETCDCTL_INSECURE_SKIP_TLS_VERIFY": "maybe"})},
			[]string{"ETCDCTL_INSECURE_SKIP_TLS_VERIFY"}},
		"bad URL and CA": {ConnFlags{Endpoints: []string{"ftp://h:1", "https://h"}, CACert: "/nonexistent/ca.pem", Env: none},
			[]string{`scheme must be http or https`, "no port", "--cacert: open /nonexistent/ca.pem"}},
		"cert without key": {ConnFlags{Endpoints: []string{"h:1"}, Cert: "x.pem", Env: none}, []string{"--cert without --key"}},
		"negative timeout": {ConnFlags{Endpoints: []string{"h:1"}, CommandTimeout: -time.Second, Env: none}, []string{"--command-timeout must be positive"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := FromFlags(tc.f)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Error("secret in error")
			}
		})
	}
}
