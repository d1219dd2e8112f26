package inventory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/etcdaudit/etcdaudit/internal/inputfile"
	"github.com/etcdaudit/etcdaudit/internal/yamlsafe"
)

// MaxFileSize bounds what Load reads: a fleet of thousands of clusters is far
// below it, and a runaway file is refused rather than read.
const MaxFileSize = yamlsafe.MaxFileSize

// Field names per level; order is the documentation order.
var (
	topFields      = []string{"name", "defaults", "clusters", "lock"}
	lockFields     = []string{"endpoints", "tls", "auth", "collect"}
	clusterFields  = []string{"name", "endpoints", "labels", "tls", "auth", "kubernetes_backend", "collect", "hooks", "hook_timeouts"}
	defaultsFields = []string{"labels", "tls", "auth", "kubernetes_backend", "collect", "hooks", "hook_timeouts"}
	tlsFields      = []string{"ca", "cert", "key", "server_name", "insecure_skip_verify"}
	authFields     = []string{"user", "password_env", "password_file"}
	collectFields  = []string{"events_prefix", "registry_prefix", "page_size", "dial_timeout", "command_timeout", "keyspace_timeout"}
	backends       = []string{"etcd2", "etcd3"}
)

// belongsUnder says where a field written at the cluster level belongs, for
// "did you mean tls.ca?".
var belongsUnder = map[string]string{
	"tier": "labels.tier", "region": "labels.region",
	"user": "auth.user", "username": "auth.user", "password_env": "auth.password_env", "password_file": "auth.password_file",
	"ca": "tls.ca", "cacert": "tls.ca", "cert": "tls.cert", "key": "tls.key", "server_name": "tls.server_name",
	"insecure_skip_verify": "tls.insecure_skip_verify", "insecure_skip_tls_verify": "tls.insecure_skip_verify",
	"events_prefix": "collect.events_prefix", "registry_prefix": "collect.registry_prefix", "page_size": "collect.page_size",
	"dial_timeout": "collect.dial_timeout", "command_timeout": "collect.command_timeout", "keyspace_timeout": "collect.keyspace_timeout",
	"timeouts": "hook_timeouts", "hook_timeout": "hook_timeouts",
	"backend": "kubernetes_backend", "storage_backend": "kubernetes_backend", "endpoint": "endpoints",
}

var (
	clusterNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	labelKeyRe    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]{0,127}$`)
	hookNameRe    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$`)
	envNameRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	yamlLineRe    = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// Load is LoadContext that cannot be cancelled (it cannot block either:
// see LoadContext).
func Load(path string) (*Fleet, error) { return LoadContext(context.Background(), path) }

// LoadContext reads and validates an inventory file. Every problem is
// reported at once in a *ValidationError; relative file paths resolve
// against the inventory's directory. The inventory and every file it names
// must be regular files (see internal/inputfile) and its YAML stay within
// internal/yamlsafe's limits; reading stops when ctx is done.
func LoadContext(ctx context.Context, path string) (*Fleet, error) {
	data, err := inputfile.Read(ctx, path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return parse(ctx, path, data)
}

// Parse validates an inventory held in memory; name is its path (for
// messages and to resolve relative file paths). It never panics: a bug in a
// dependency on hostile input becomes a problem in the error.
func Parse(name string, data []byte) (*Fleet, error) {
	return parse(context.Background(), name, data)
}

func parse(ctx context.Context, name string, data []byte) (fleet *Fleet, err error) {
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		dir = filepath.Dir(name)
	}
	p := &parser{ctx: ctx, file: name, dir: dir, pairs: map[[2]string]bool{}, endpointAt: map[string]endpointOwner{}, unreadable: map[string]bool{}}
	defer func() {
		if !catchPanics {
			return
		}
		if r := recover(); r != nil {
			fleet = nil
			err = &ValidationError{File: name, Problems: []Problem{{File: name, Message: fmt.Sprintf("internal error while parsing (please report it): %v", r)}}}
		}
	}()
	fleet = p.parse(data)
	if fleet != nil {
		fleet.Warnings = p.warns
	}
	if len(p.problems) > 0 {
		ve := &ValidationError{File: name, Problems: p.problems}
		ve.sort()
		return nil, ve
	}
	return fleet, nil
}

// catchPanics is switched off by FuzzLoad so the fuzzer sees a panic
// instead of the error it is turned into.
var catchPanics = true

type parser struct {
	ctx        context.Context // for reading the files the inventory names
	file, dir  string
	problems   []Problem
	pairs      map[[2]string]bool       // cert/key pairs already checked
	endpointAt map[string]endpointOwner // host:port → first cluster listing it
	unreadable map[string]bool          // named files already reported
	warns      []Problem
}

type endpointOwner struct {
	cluster string
	line    int
}

func (p *parser) errf(n *yaml.Node, field, format string, args ...any) {
	pr := Problem{File: p.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		pr.Line, pr.Column = n.Line, n.Column
	}
	p.problems = append(p.problems, pr)
}

func (p *parser) parse(data []byte) *Fleet {
	// yamlsafe bounds the document, aliases expanded: every walk below is
	// bounded by it.
	docs, err := yamlsafe.Parse(p.file, data)
	var le *yamlsafe.LimitError
	switch {
	case errors.As(err, &le):
		p.problems = append(p.problems, Problem{File: p.file, Line: le.Line, Message: strings.TrimPrefix(le.Error(), p.file+": ")})
		return nil
	case err != nil:
		p.syntax(err)
		return nil
	case len(docs) == 0:
		p.errf(nil, "", "empty inventory: expected name, defaults and clusters")
		return nil
	case len(docs) > 1:
		p.errf(docs[1], "", "a second YAML document: one inventory per file")
	}
	doc := docs[0]
	if len(doc.Content) == 0 {
		p.errf(nil, "", "empty inventory: expected name, defaults and clusters")
		return nil
	}
	root := deref(doc.Content[0])
	if root == nil || isNull(root) {
		p.errf(doc.Content[0], "", "empty inventory: expected name, defaults and clusters")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.errf(doc.Content[0], "", "expected a mapping with name, defaults and clusters, got %s", kindName(root))
		return nil
	}
	p.secrets(root, "", 0)
	fleet := &Fleet{Source: p.file}
	var defaultsNode, clustersNode, lockNode *yaml.Node
	p.fields(root, "", topFields, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			fleet.Name, _ = p.text(v, "name")
		case "defaults":
			defaultsNode = v
		case "clusters":
			clustersNode = v
		case "lock":
			lockNode = v
		}
	})
	if fleet.Name == "" {
		fleet.Name = strings.TrimSuffix(filepath.Base(p.file), filepath.Ext(p.file))
	}
	defaults := newSpec()
	if defaultsNode != nil {
		p.applySpec(defaults, defaultsNode, "defaults", defaultsFields)
		p.crossChecks(defaults, "defaults")
	}
	fleet.Clusters = p.clusters(clustersNode, root, defaults)
	if lockNode != nil {
		fleet.Lock = p.lock(lockNode)
	}
	return fleet
}

// lock reads the coordination etcd's connection: a cluster of its own,
// named "lock", that inherits nothing from defaults (its TLS and auth are
// rarely the fleet's).
func (p *parser) lock(n *yaml.Node) *Cluster {
	if m := deref(n); m == nil || m.Kind != yaml.MappingNode {
		p.errf(n, "lock", "expected a mapping with endpoints (and tls, auth), got %s", kindName(deref(n)))
		return nil
	}
	s := newSpec()
	p.applySpec(s, n, "lock", lockFields)
	s.c.Name, s.c.Line = "lock", n.Line
	if len(s.c.Endpoints) == 0 && s.at["endpoints"].n == nil {
		p.errf(n, "lock", "missing endpoints: list the coordination etcd's client URLs, e.g. [https://10.0.9.1:2379]")
	}
	p.crossChecks(s, "lock")
	p.warnings(s, n, "lock")
	s.c.Collect = withBuiltinDefaults(s.c.Collect)
	return &s.c
}

func (p *parser) clusters(n, root *yaml.Node, defaults *spec) []Cluster {
	if n == nil {
		p.errf(root, "clusters", "missing: list at least one cluster")
		return nil
	}
	seq := deref(n)
	if isNull(seq) || (seq.Kind == yaml.SequenceNode && len(seq.Content) == 0) {
		p.errf(n, "clusters", "empty: list at least one cluster")
		return nil
	}
	if seq.Kind != yaml.SequenceNode {
		p.errf(n, "clusters", "expected a list of clusters (- name: …), got %s", kindName(seq))
		return nil
	}
	names := map[string]int{}
	var out []Cluster
	for i, item := range seq.Content {
		path := fmt.Sprintf("clusters[%d]", i)
		s := defaults.clone()
		s.at["name"], s.at["endpoints"] = loc{}, loc{} // never inherited
		if m := deref(item); m == nil || m.Kind != yaml.MappingNode {
			p.errf(item, path, "expected a mapping with name and endpoints, got %s", kindName(deref(item)))
			continue
		}
		p.applySpec(s, item, path, clusterFields)
		s.c.Line = item.Line
		switch {
		case s.c.Name == "" && s.at["name"].n == nil:
			p.errf(item, path, "missing name")
		case s.c.Name == "":
			if n := deref(s.at["name"].n); n != nil && n.Kind == yaml.ScalarNode {
				p.errf(s.at["name"].n, path+".name", "empty name")
			}
		default:
			if first, dup := names[s.c.Name]; dup {
				p.errf(s.at["name"].n, path+".name", "duplicate cluster name %q (first at line %d)", s.c.Name, first)
			} else {
				names[s.c.Name] = s.at["name"].n.Line
			}
		}
		if len(s.c.Endpoints) == 0 && s.at["endpoints"].n == nil {
			p.errf(item, path, "missing endpoints: list at least one client URL, e.g. [https://10.0.0.1:2379]")
		}
		p.crossChecks(s, path)
		p.warnings(s, item, path)
		p.claimEndpoints(s, path)
		s.c.Collect = withBuiltinDefaults(s.c.Collect)
		out = append(out, s.c)
	}
	return out
}

func withBuiltinDefaults(c Collect) Collect {
	if c.EventsPrefix == "" {
		c.EventsPrefix = DefaultEventsPrefix
	}
	if c.RegistryPrefix == "" {
		c.RegistryPrefix = DefaultRegistryPrefix
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	c.DialTimeout = orDefault(c.DialTimeout, DefaultDialTimeout)
	c.CommandTimeout = orDefault(c.CommandTimeout, DefaultCommandTimeout)
	c.KeyspaceTimeout = orDefault(c.KeyspaceTimeout, DefaultKeyspaceTimeout)
	return c
}

// claimEndpoints finds one server listed in two clusters: an audit would
// count its facts twice, and a remediation hook would act on the wrong one.
func (p *parser) claimEndpoints(s *spec, path string) {
	for i, ep := range s.c.Endpoints {
		hp := hostPort(ep)
		if hp == "" {
			continue
		}
		n := s.endpointNodes[i]
		if o, ok := p.endpointAt[hp]; ok && o.cluster != s.c.Name {
			p.errf(n, fmt.Sprintf("%s.endpoints[%d]", path, i), "%s is also an endpoint of cluster %q (line %d): one server cannot be in two clusters", hp, o.cluster, o.line)
			continue
		}
		p.endpointAt[hp] = endpointOwner{cluster: s.c.Name, line: n.Line}
	}
}

// fields walks a mapping strictly: duplicate keys, inline secrets and unknown
// fields are problems; allowed == nil accepts any key (labels, hooks).
func (p *parser) fields(n *yaml.Node, path string, allowed []string, visit func(key string, k, v *yaml.Node)) {
	m := deref(n)
	if m == nil || isNull(m) {
		return
	}
	if m.Kind != yaml.MappingNode {
		got := kindName(m)
		if secretish(path) {
			got = kindOf(m) // `auth: "hunter9"` is most likely the password
		}
		p.errf(n, path, "expected a mapping (key: value), got %s", got)
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		kd := deref(k)
		if kd == nil || kd.Kind != yaml.ScalarNode {
			p.errf(k, path, "keys must be plain strings, got %s", kindName(kd))
			continue
		}
		key := kd.Value
		fp := join(path, key)
		switch {
		case key == "<<":
			p.errf(k, path, "YAML merge keys (<<) are not supported: put shared settings under defaults")
			continue
		case isSecretKey(key):
			continue // reported once by secrets()
		}
		if first, dup := seen[key]; dup {
			p.errf(k, fp, "duplicate key (first at line %d)", first)
			continue
		}
		seen[key] = k.Line
		if allowed != nil && !slices.Contains(allowed, key) {
			p.unknown(k, path, key, allowed)
			continue
		}
		visit(key, k, v)
	}
}

func (p *parser) unknown(k *yaml.Node, path, key string, allowed []string) {
	fp := join(path, key)
	if s := suggest(key, allowed); s != "" {
		p.errf(k, fp, "unknown field (did you mean %q?)", s)
		return
	}
	level := path
	if i := strings.LastIndexByte(level, '.'); i >= 0 {
		level = level[i+1:]
	}
	switch {
	case path == "defaults" && (key == "name" || key == "endpoints"):
		p.errf(k, fp, "cannot be a default: every cluster sets its own %s", key)
		return
	case path == "" && slices.Contains(clusterFields, key):
		p.errf(k, fp, "unknown top-level field: cluster settings go under defaults or under a cluster in clusters")
		return
	case strings.HasPrefix(level, "clusters[") || level == "defaults":
		if near := suggest(key, slices.Collect(maps.Keys(belongsUnder))); near != "" {
			p.errf(k, fp, "unknown field (did you mean %s?)", belongsUnder[near])
			return
		}
	}
	p.errf(k, fp, "unknown field; expected one of: %s", strings.Join(allowed, ", "))
}

// secrets reports every key that looks like an inline password, anywhere
// in the document, without ever echoing its value.
func (p *parser) secrets(n *yaml.Node, path string, depth int) {
	if n == nil || depth > 64 {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && isSecretKey(k.Value) {
				p.errf(k, join(path, k.Value), "inline secret: passwords never go in the inventory; use auth.password_env (an environment variable) or auth.password_file")
				continue
			}
			p.secrets(n.Content[i+1], join(path, k.Value), depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.secrets(c, fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	}
}

func isSecretKey(key string) bool {
	k := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	return strings.HasSuffix(k, "password") || k == "passwd" || k == "pass"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// deref follows aliases (bounded: yaml.v3 already rejects cycles).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 32; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return deref(n.Content[0])
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case isNull(n):
		return "null"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("%q", truncate(n.Value, 40))
	}
	return "an unexpected node"
}

// kindOf names what n is without its value, for fields whose value may be
// a secret written in the wrong place.
func kindOf(n *yaml.Node) string {
	if n == nil || isNull(n) || n.Kind != yaml.ScalarNode {
		return kindName(n)
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	}
	return "a string"
}

// secretish says whether a value at path may be a secret put in the wrong
// place (`auth: hunter9`, `password_env: <the password>`): its errors name
// the kind of value, never the value.
func secretish(path string) bool {
	last := path[strings.LastIndexByte(path, '.')+1:]
	return last == "auth" || last == "password_env" || isSecretKey(last)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
