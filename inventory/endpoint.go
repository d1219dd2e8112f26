package inventory

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

func (p *parser) endpoints(s *spec, v *yaml.Node, path string) {
	seq := deref(v)
	if seq.Kind == yaml.ScalarNode && !isNull(seq) {
		p.errf(v, path, "expected a list, e.g. [%s]", truncate(seq.Value, 60))
		return
	}
	if isNull(seq) || seq.Kind != yaml.SequenceNode || len(seq.Content) == 0 {
		p.errf(v, path, "list at least one client URL, e.g. [https://10.0.0.1:2379]")
		return
	}
	s.c.Endpoints, s.endpointNodes = nil, nil
	seen := map[string]int{}
	for i, item := range seq.Content {
		fp := fmt.Sprintf("%s[%d]", path, i)
		raw, ok := p.text(item, fp)
		if !ok {
			if isNull(deref(item)) {
				p.errf(item, fp, "empty endpoint")
			}
			continue
		}
		ep, hp, msg := checkEndpoint(raw)
		if msg != "" {
			p.errf(item, fp, "%s", msg)
			continue
		}
		if first, dup := seen[hp]; dup {
			p.errf(item, fp, "%s is listed twice (first at line %d)", hp, first)
			continue
		}
		seen[hp] = item.Line
		s.c.Endpoints = append(s.c.Endpoints, ep)
		s.endpointNodes = append(s.endpointNodes, item)
	}
}

// checkEndpoint validates a client URL and returns it normalised, with its
// host:port identity. Messages never echo a password found in the URL.
func checkEndpoint(raw string) (ep, hp, msg string) {
	if !strings.Contains(raw, "://") {
		return "", "", fmt.Sprintf("%q has no scheme: write https://%s (or http://)", truncate(raw, 60), truncate(raw, 60))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Sprintf("malformed URL: %v", redactURLError(err))
	}
	shown := u.Redacted()
	if _, has := u.User.Password(); has {
		return "", "", fmt.Sprintf("%s: inline secret in the URL: use auth.password_env or auth.password_file", shown)
	}
	if u.User != nil {
		return "", "", fmt.Sprintf("%s: user info in the URL: use auth.user", shown)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", "", fmt.Sprintf("%s: scheme must be http or https, not %q", shown, u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", "", fmt.Sprintf("%s: no host", shown)
	}
	if port == "" {
		return "", "", fmt.Sprintf("%s: no port: etcd's client port is usually 2379, write %s://%s:2379", shown, scheme, u.Host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Sprintf("%s: port %q out of range 1-65535", shown, port)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Sprintf("%s: a client URL has no path, query or fragment", shown)
	}
	hp = net.JoinHostPort(strings.ToLower(host), port)
	return scheme + "://" + u.Host, hp, ""
}

func redactURLError(err error) string {
	if ue, ok := err.(*url.Error); ok {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return fmt.Sprintf("%s %q: %v", ue.Op, u.Redacted(), ue.Err)
		}
		return ue.Err.Error() // the URL text may hold a password: leave it out
	}
	return err.Error()
}

func hostPort(ep string) string {
	u, err := url.Parse(ep)
	if err != nil || u.Port() == "" {
		return ""
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), u.Port())
}
