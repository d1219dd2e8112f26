package inventory

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// warnings are valid settings an SRE would still want pointed out: they do
// not fail validation, but `inventory validate` prints them.
func (p *parser) warnings(s *spec, item *yaml.Node, path string) {
	warn := func(field, format string, args ...any) {
		p.warns = append(p.warns, Problem{File: p.file, Line: item.Line, Column: item.Column, Field: join(path, field),
			Message: "warning: " + fmt.Sprintf(format, args...)})
	}
	var plain []string
	for _, ep := range s.c.Endpoints {
		if strings.HasPrefix(ep, "http://") {
			plain = append(plain, ep)
		}
	}
	a, t := s.c.Auth, s.c.TLS
	if a.User != "" && len(plain) > 0 {
		warn("auth", "the password for %s is sent in clear text to %s", a.User, strings.Join(plain, ", "))
	}
	if t.InsecureSkipVerify {
		warn("tls.insecure_skip_verify", "server certificates are not verified: anyone on the path can impersonate the cluster")
	}
	if (t.CA != "" || t.Cert != "") && len(plain) == len(s.c.Endpoints) && len(plain) > 0 {
		warn("tls", "TLS files are set but every endpoint is http://: they are not used")
	}
	if a.PasswordFile != "" {
		if st, err := os.Stat(a.PasswordFile); err == nil && st.Mode().Perm()&0o077 != 0 {
			warn("auth.password_file", "%s is readable by other users (mode %04o): chmod 600 it", a.PasswordFile, st.Mode().Perm())
		}
	}
}
