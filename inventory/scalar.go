package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// text reads a scalar as a string; null or "" mean "not set".
func (p *parser) text(n *yaml.Node, path string) (string, bool) {
	s := deref(n)
	if s == nil || isNull(s) {
		return "", false
	}
	if s.Kind != yaml.ScalarNode {
		p.errf(n, path, "expected a string, got %s", kindName(s)) // a list or mapping: kindName shows no value
		return "", false
	}
	return s.Value, s.Value != ""
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	s := deref(n)
	if s == nil || isNull(s) {
		return false, false
	}
	if s.Kind == yaml.ScalarNode && s.Tag == "!!bool" {
		var b bool
		if err := s.Decode(&b); err == nil {
			return b, true
		}
	}
	p.errf(n, path, "expected true or false, got %s", kindName(s))
	return false, false
}

func (p *parser) integer(n *yaml.Node, path string) (int64, bool) {
	s := deref(n)
	if s == nil || isNull(s) {
		return 0, false
	}
	if s.Kind == yaml.ScalarNode && s.Tag == "!!int" {
		var i int64
		if err := s.Decode(&i); err == nil {
			return i, true
		}
	}
	p.errf(n, path, "expected a whole number, got %s", kindName(s))
	return 0, false
}

func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s := deref(n)
	if s == nil || isNull(s) {
		return 0, false
	}
	if s.Kind != yaml.ScalarNode {
		p.errf(n, path, "expected a duration such as 5s, got %s", kindName(s))
		return 0, false
	}
	if s.Tag == "!!int" || s.Tag == "!!float" {
		p.errf(n, path, "duration %s has no unit: write e.g. %ss", s.Value, s.Value)
		return 0, false
	}
	d, err := time.ParseDuration(s.Value)
	if err != nil {
		p.errf(n, path, "%q is not a duration (e.g. 500ms, 5s, 2m)", truncate(s.Value, 40))
		return 0, false
	}
	if d <= 0 {
		p.errf(n, path, "must be positive, got %s", s.Value)
		return 0, false
	}
	return d, true
}

// file resolves a path (relative to the inventory, ~ to the home dir) and
// checks it can be read now, rather than at 3 a.m. on the first scan.
func (p *parser) path(n *yaml.Node, path string) (string, bool) {
	f, ok := p.text(n, path)
	if !ok {
		return "", false
	}
	if strings.Contains(f, "-----BEGIN") || strings.ContainsAny(f, "\n\r") {
		// A key or certificate pasted inline would be echoed by "open …:
		// file name too long".
		p.errf(n, path, "expected the path of a file, got PEM or multi-line content (not shown): put it in a file and give its path")
		return "", false
	}
	if rest, ok := strings.CutPrefix(f, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			f = filepath.Join(home, rest)
		}
	}
	if !filepath.IsAbs(f) {
		f = filepath.Join(p.dir, f)
	}
	if err := checkFile(p.ctx, f); err != nil {
		p.errf(n, path, "%v", err)
		p.unreadable[f] = true
	}
	return f, true
}
