package inventory

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// spec is a cluster being built: defaults first, then the cluster's own
// fields on top, remembering where each effective value was written so a
// problem found after merging points at the right line.
type spec struct {
	c             Cluster
	at            map[string]loc
	endpointNodes []*yaml.Node
}

type loc struct {
	n    *yaml.Node
	path string
}

func newSpec() *spec {
	return &spec{c: Cluster{Labels: map[string]string{}, Hooks: Hooks{}}, at: map[string]loc{}}
}

func (s *spec) clone() *spec {
	c := s.c
	c.Labels = maps.Clone(s.c.Labels)
	c.Hooks = Hooks{}
	for k, v := range s.c.Hooks {
		c.Hooks[k] = slices.Clone(v)
	}
	c.HookTimeouts = maps.Clone(s.c.HookTimeouts)
	c.Endpoints = slices.Clone(s.c.Endpoints)
	return &spec{c: c, at: maps.Clone(s.at)}
}

func (s *spec) set(field string, n *yaml.Node, path string) { s.at[field] = loc{n, path} }

func (p *parser) applySpec(s *spec, n *yaml.Node, path string, allowed []string) {
	p.fields(n, path, allowed, func(key string, k, v *yaml.Node) {
		fp := join(path, key)
		switch key {
		case "name":
			s.set("name", v, fp)
			name, ok := p.text(v, fp)
			if !ok {
				return
			}
			if !clusterNameRe.MatchString(name) {
				p.errf(v, fp, "%q is not a valid cluster name: use letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit)", truncate(name, 40))
			}
			s.c.Name = name
		case "endpoints":
			s.set("endpoints", v, fp)
			p.endpoints(s, v, fp)
		case "labels":
			p.labels(s, v, fp)
		case "tls":
			p.tls(s, v, fp)
		case "auth":
			p.auth(s, v, fp)
		case "kubernetes_backend":
			b, ok := p.text(v, fp)
			if !ok {
				return
			}
			if !slices.Contains(backends, b) {
				p.errf(v, fp, "%q is not a backend: use etcd2 or etcd3%s", truncate(b, 40), didYouMean(b, backends))
				return
			}
			s.c.KubernetesBackend = b
		case "collect":
			p.collect(s, v, fp)
		case "hooks":
			p.hooks(s, v, fp)
		case "hook_timeouts":
			p.hookTimeouts(s, v, fp)
		}
	})
}

func didYouMean(got string, candidates []string) string {
	if s := suggest(got, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

func (p *parser) labels(s *spec, v *yaml.Node, path string) {
	p.fields(v, path, nil, func(key string, k, val *yaml.Node) {
		fp := join(path, key)
		if !labelKeyRe.MatchString(key) {
			p.errf(k, fp, "%q is not a valid label name: letters, digits, '_', '.', '/', '-'", truncate(key, 40))
			return
		}
		value, ok := p.text(val, fp)
		if !ok {
			return
		}
		if strings.IndexFunc(value, unicode.IsControl) >= 0 || len(value) > 256 {
			p.errf(val, fp, "label values are at most 256 printable characters")
			return
		}
		if key == "tier" && !slices.Contains(Tiers, value) {
			p.errf(val, fp, "tier %q is not one of %s%s", truncate(value, 40), strings.Join(Tiers, ", "), didYouMean(value, Tiers))
			return
		}
		s.c.Labels[key] = value
	})
}

func (p *parser) tls(s *spec, v *yaml.Node, path string) {
	var pairSet bool
	p.fields(v, path, tlsFields, func(key string, k, val *yaml.Node) {
		fp := join(path, key)
		switch key {
		case "ca":
			if f, ok := p.path(val, fp); ok {
				s.c.TLS.CA = f
				s.set("tls.ca", val, fp)
				p.checkCA(val, fp, f)
			}
		case "cert", "key":
			pairSet = true
			if f, ok := p.path(val, fp); ok {
				if key == "cert" {
					s.c.TLS.Cert = f
				} else {
					s.c.TLS.Key = f
				}
				s.set("tls."+key, val, fp)
			}
		case "server_name":
			if name, ok := p.text(val, fp); ok {
				s.c.TLS.ServerName = name
			}
		case "insecure_skip_verify":
			if b, ok := p.boolean(val, fp); ok {
				s.c.TLS.InsecureSkipVerify = b
			}
		}
	})
	// cert and key are one credential: a cluster that sets either does not
	// inherit the other half from defaults.
	if pairSet {
		for _, f := range []string{"cert", "key"} {
			if l := s.at["tls."+f]; l.n == nil || !strings.HasPrefix(l.path, path) {
				delete(s.at, "tls."+f)
				if f == "cert" {
					s.c.TLS.Cert = ""
				} else {
					s.c.TLS.Key = ""
				}
			}
		}
	}
}

func (p *parser) checkCA(n *yaml.Node, path, file string) {
	if p.unreadable[file] {
		return // p.path already reported it
	}
	if _, err := loadCA(p.ctx, file); err != nil {
		p.errf(n, path, "%v", err)
	}
}

func (p *parser) auth(s *spec, v *yaml.Node, path string) {
	var sourceSet bool
	if m := deref(v); m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i < len(m.Content); i += 2 {
			if isSecretKey(m.Content[i].Value) {
				// Reported as an inline secret; "no password source" would
				// be noise next to it.
				s.set("auth.inline", m.Content[i], join(path, m.Content[i].Value))
			}
		}
	}
	p.fields(v, path, authFields, func(key string, k, val *yaml.Node) {
		fp := join(path, key)
		switch key {
		case "user":
			if u, ok := p.text(val, fp); ok {
				s.c.Auth.User = u
				s.set("auth.user", val, fp)
			}
		case "password_env":
			sourceSet = true
			if name, ok := p.text(val, fp); ok {
				if !envNameRe.MatchString(name) {
					// Not echoed: a value that is no variable name may be the
					// password itself.
					p.errf(val, fp, "not an environment variable name (letters, digits and _, not starting with a digit; the value is not shown in case it is the password)")
					return
				}
				s.c.Auth.PasswordEnv = name
				s.set("auth.password_env", val, fp)
			}
		case "password_file":
			sourceSet = true
			if f, ok := p.path(val, fp); ok {
				s.c.Auth.PasswordFile = f
				s.set("auth.password_file", val, fp)
			}
		}
	})
	if sourceSet { // one password source: a cluster's replaces the default's
		for _, f := range []string{"password_env", "password_file"} {
			if l := s.at["auth."+f]; l.n == nil || !strings.HasPrefix(l.path, path) {
				delete(s.at, "auth."+f)
				if f == "password_env" {
					s.c.Auth.PasswordEnv = ""
				} else {
					s.c.Auth.PasswordFile = ""
				}
			}
		}
	}
}

func (p *parser) collect(s *spec, v *yaml.Node, path string) {
	p.fields(v, path, collectFields, func(key string, k, val *yaml.Node) {
		fp := join(path, key)
		switch key {
		case "events_prefix", "registry_prefix":
			if prefix, ok := p.text(val, fp); ok {
				if key == "events_prefix" {
					s.c.Collect.EventsPrefix = prefix
				} else {
					s.c.Collect.RegistryPrefix = prefix
				}
			}
		case "page_size":
			if n, ok := p.integer(val, fp); ok {
				if n <= 0 || n > 100000 {
					p.errf(val, fp, "page size %d out of range 1-100000 (5000-10000 is fastest: smaller pages make etcd re-count the range, larger ones risk gRPC message limits)", n)
					return
				}
				s.c.Collect.PageSize = n
			}
		case "dial_timeout", "command_timeout", "keyspace_timeout":
			d, ok := p.duration(val, fp)
			if !ok {
				return
			}
			switch key {
			case "dial_timeout":
				s.c.Collect.DialTimeout = d
			case "command_timeout":
				s.c.Collect.CommandTimeout = d
			default:
				s.c.Collect.KeyspaceTimeout = d
			}
		}
	})
}

func (p *parser) hooks(s *spec, v *yaml.Node, path string) {
	p.fields(v, path, nil, func(key string, k, val *yaml.Node) {
		fp := join(path, key)
		if !hookNameRe.MatchString(key) {
			p.errf(k, fp, "%q is not a valid hook name: letters, digits, '_' and '-'", truncate(key, 40))
			return
		}
		seq := deref(val)
		if seq.Kind != yaml.SequenceNode || len(seq.Content) == 0 {
			p.errf(val, fp, "expected a command as a non-empty list of arguments, e.g. [systemctl, stop, etcd]")
			return
		}
		var argv []string
		for i, a := range seq.Content {
			arg, ok := p.text(a, fmt.Sprintf("%s[%d]", fp, i))
			if !ok {
				if i == 0 {
					p.errf(a, fp, "the command (first argument) is empty")
				}
				return
			}
			argv = append(argv, arg)
		}
		s.c.Hooks[key] = argv
	})
}

// hookTimeouts reads per-hook deadlines; like hooks, a cluster's entries
// are merged over the defaults' by name.
func (p *parser) hookTimeouts(s *spec, v *yaml.Node, path string) {
	p.fields(v, path, nil, func(key string, k, val *yaml.Node) {
		fp := join(path, key)
		if !hookNameRe.MatchString(key) {
			p.errf(k, fp, "%q is not a valid hook name: letters, digits, '_' and '-'", truncate(key, 40))
			return
		}
		if d, ok := p.duration(val, fp); ok {
			if s.c.HookTimeouts == nil {
				s.c.HookTimeouts = map[string]time.Duration{}
			}
			s.c.HookTimeouts[key] = d
		}
	})
}

// crossChecks runs after merging: problems that involve two fields. scope
// limits reports to values written inside it, so a bad default is reported
// once, at the default, not once per cluster.
func (p *parser) crossChecks(s *spec, scope string) {
	mine := func(field string) bool {
		l, ok := s.at[field]
		return ok && l.n != nil && strings.HasPrefix(l.path, scope)
	}
	cert, key := s.at["tls.cert"], s.at["tls.key"]
	switch {
	case s.c.TLS.Cert != "" && s.c.TLS.Key == "" && mine("tls.cert"):
		p.errf(cert.n, cert.path, "client certificate without a key: set tls.key too")
	case s.c.TLS.Key != "" && s.c.TLS.Cert == "" && mine("tls.key"):
		p.errf(key.n, key.path, "client key without a certificate: set tls.cert too")
	case s.c.TLS.Cert != "" && s.c.TLS.Key != "" && (mine("tls.cert") || mine("tls.key")):
		pair := [2]string{s.c.TLS.Cert, s.c.TLS.Key}
		if p.pairs[pair] {
			break
		}
		p.pairs[pair] = true
		if p.unreadable[pair[0]] || p.unreadable[pair[1]] {
			break // already reported by p.path
		}
		if _, err := loadKeyPair(p.ctx, pair[0], pair[1]); err != nil {
			p.errf(cert.n, cert.path, "%s with key %s: %v", pair[0], pair[1], err)
		}
	}
	a := s.c.Auth
	hasSource := a.PasswordEnv != "" || a.PasswordFile != ""
	switch {
	case a.User != "" && !hasSource && mine("auth.user") && !mine("auth.inline"):
		l := s.at["auth.user"]
		p.errf(l.n, l.path, "user %q has no password source: set auth.password_env or auth.password_file", a.User)
	case a.User == "" && hasSource && (mine("auth.password_env") || mine("auth.password_file")):
		l := s.at["auth.password_env"]
		if l.n == nil {
			l = s.at["auth.password_file"]
		}
		p.errf(l.n, l.path, "a password source without auth.user")
	}
}
