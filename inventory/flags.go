package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// FromFlags builds a one-cluster fleet from etcdctl-style flags, falling
// back to the ETCDCTL_* variables etcdctl users already have set (a flag
// given on the command line always wins). Like etcdctl, endpoints may omit
// the scheme: https when TLS files are given, http otherwise.
func FromFlags(f ConnFlags) (*Fleet, error) {
	env := f.Env
	if env == nil {
		env = os.LookupEnv
	}
	given := func(flag string, nonZero bool) bool {
		if f.Set != nil {
			return f.Set(flag)
		}
		return nonZero
	}
	var errs []error
	str := func(flag, envName string, v *string) {
		if given(flag, *v != "") {
			return
		}
		if e, ok := env(envName); ok {
			*v = e
		}
	}
	if !given("endpoints", len(f.Endpoints) > 0) {
		if e, ok := env("ETCDCTL_ENDPOINTS"); ok {
			f.Endpoints = splitList(e)
		}
	}
	str("cacert", "ETCDCTL_CACERT", &f.CACert)
	str("cert", "ETCDCTL_CERT", &f.Cert)
	str("key", "ETCDCTL_KEY", &f.Key)
	str("user", "ETCDCTL_USER", &f.User)
	str("password", "ETCDCTL_PASSWORD", &f.Password)
	if !given("insecure-skip-tls-verify", f.InsecureSkipTLSVerify) {
		if e, ok := env("ETCDCTL_INSECURE_SKIP_TLS_VERIFY"); ok {
			b, err := strconv.ParseBool(e)
			if err != nil {
				errs = append(errs, fmt.Errorf("ETCDCTL_INSECURE_SKIP_TLS_VERIFY=%q: not true or false", e))
			}
			f.InsecureSkipTLSVerify = b
		}
	}
	dur := func(flag, envName string, v *time.Duration) {
		if !given(flag, *v != 0) {
			if e, ok := env(envName); ok {
				d, err := time.ParseDuration(e)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s=%q: not a duration (e.g. 5s)", envName, e))
				}
				*v = d
			}
		}
		if *v < 0 || (*v == 0 && given(flag, false)) {
			errs = append(errs, fmt.Errorf("--%s must be positive", flag))
		}
	}
	dur("dial-timeout", "ETCDCTL_DIAL_TIMEOUT", &f.DialTimeout)
	dur("command-timeout", "ETCDCTL_COMMAND_TIMEOUT", &f.CommandTimeout)

	c := Cluster{Name: f.Name, Labels: map[string]string{}, Hooks: Hooks{}}
	c.TLS = TLS{CA: f.CACert, Cert: f.Cert, Key: f.Key, ServerName: f.ServerName, InsecureSkipVerify: f.InsecureSkipTLSVerify}
	scheme := "http://"
	if c.TLS.CA != "" || c.TLS.Cert != "" || c.TLS.InsecureSkipVerify {
		scheme = "https://"
	}
	if len(f.Endpoints) == 0 {
		errs = append(errs, errors.New("no endpoints: give -f fleet.yaml, or --endpoints (or ETCDCTL_ENDPOINTS)"))
	}
	seen := map[string]bool{}
	for _, raw := range f.Endpoints {
		if !strings.Contains(raw, "://") {
			raw = scheme + raw
		}
		ep, hp, msg := checkEndpoint(raw)
		switch {
		case msg != "":
			errs = append(errs, fmt.Errorf("--endpoints: %s", msg))
		case !seen[hp]:
			seen[hp] = true
			c.Endpoints = append(c.Endpoints, ep)
		}
	}
	if c.Name == "" && len(c.Endpoints) > 0 {
		c.Name = strings.NewReplacer(":", "-", "[", "", "]", "").Replace(hostPort(c.Endpoints[0]))
	}
	errs = append(errs, checkFlagTLS(c.TLS)...)

	if f.User != "" {
		user, pw := f.User, f.Password
		if pw == "" {
			if u, p, ok := strings.Cut(f.User, ":"); ok {
				user, pw = u, p
			}
		}
		if pw == "" {
			errs = append(errs, fmt.Errorf("--user %s has no password: use --user name:password, --password or ETCDCTL_PASSWORD", user))
		}
		c.Auth = Auth{User: user, password: pw}
	} else if f.Password != "" {
		errs = append(errs, errors.New("--password (or ETCDCTL_PASSWORD) without --user"))
	}
	c.Collect = withBuiltinDefaults(Collect{DialTimeout: f.DialTimeout, CommandTimeout: f.CommandTimeout})
	if len(errs) > 0 {
		return nil, fmt.Errorf("connection flags: %w", errors.Join(errs...))
	}
	return &Fleet{Name: c.Name, Source: "flags", Clusters: []Cluster{c}}, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func checkFlagTLS(t TLS) []error {
	var errs []error
	if t.CA != "" {
		if _, err := loadCA(context.Background(), t.CA); err != nil {
			errs = append(errs, fmt.Errorf("--cacert: %w", err))
		}
	}
	switch {
	case t.Cert != "" && t.Key == "":
		errs = append(errs, errors.New("--cert without --key"))
	case t.Key != "" && t.Cert == "":
		errs = append(errs, errors.New("--key without --cert"))
	case t.Cert != "":
		if _, err := loadKeyPair(context.Background(), t.Cert, t.Key); err != nil {
			errs = append(errs, fmt.Errorf("--cert %s / --key %s: %w", t.Cert, t.Key, err))
		}
	}
	return errs
}
