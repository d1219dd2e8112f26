package policies

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/etcdaudit/etcdaudit/internal/inputfile"
	"github.com/etcdaudit/etcdaudit/internal/yamlsafe"
)

//go:embed data/*.yaml
var builtinData embed.FS

// LoadData returns data.etcdaudit: the bundled YAML with
// every file of files deep-merged over it in order. Maps merge key by key so
// a user file may change one threshold or add one known issue; any other
// value replaces the old one but must keep its type, so a typo such as
// `lease_coverage_min: "high"` stops the run instead of disabling a control.
//
// The bundled data is kept under --no-builtin too: user controls judge
// against the same baseline unless a data file says otherwise.
//
// Files must be regular files (see internal/inputfile) within
// internal/yamlsafe's limits, so no data file can hang the tool or expand
// into more memory than the limits allow.
func LoadData(files []string) (map[string]any, error) {
	data := map[string]any{}
	{
		names, err := fs.Glob(builtinData, "data/*.yaml")
		if err != nil {
			return nil, err
		}
		sort.Strings(names)
		for _, name := range names {
			src, err := builtinData.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("read bundled data %s: %w", name, err)
			}
			if err := mergeDataFile(data, "policies/"+name, src, false); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range files {
		src, err := inputfile.Read(context.Background(), f, yamlsafe.MaxFileSize)
		if err != nil {
			return nil, fmt.Errorf("data file: %w", err)
		}
		if err := mergeDataFile(data, f, src, true); err != nil {
			return nil, err
		}
	}
	return jsonRoundTrip(data)
}

// mergeDataFile merges one YAML (or JSON) document into dst. The document is
// either the keys of data.etcdaudit (baseline, known_issues, …) or those keys
// wrapped in `etcdaudit:`.
func mergeDataFile(dst map[string]any, file string, src []byte, typed bool) error {
	docs, err := yamlsafe.Parse(file, src)
	var le *yamlsafe.LimitError
	switch {
	case errors.As(err, &le):
		return fmt.Errorf("data file %w", err)
	case err != nil:
		return fmt.Errorf("data file %s: %w", file, err)
	case len(docs) > 1:
		return fmt.Errorf("data file %s:%d: a second YAML document: one document per file", file, docs[1].Line)
	case len(docs) == 0 || len(docs[0].Content) == 0:
		return nil // empty file
	}
	root := docs[0].Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("data file %s:%d: want a mapping of data keys (baseline, known_issues, upgrade, …), got %s", file, root.Line, kindName(root))
	}
	if len(root.Content) == 2 && root.Content[0].Value == "etcdaudit" {
		root = root.Content[1]
		if root.Kind != yaml.MappingNode {
			return fmt.Errorf("data file %s:%d: etcdaudit: want a mapping, got %s", file, root.Line, kindName(root))
		}
	}
	return mergeMapping(dst, root, file, "", typed)
}

func mergeMapping(dst map[string]any, n *yaml.Node, file, prefix string, typed bool) error {
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		p := joinKey(prefix, key)
		old, exists := dst[key]
		if exists && typed {
			if om, ok := old.(map[string]any); ok {
				if v.Kind != yaml.MappingNode {
					errs = append(errs, fmt.Sprintf("%s:%d: %s: want a mapping (it is one in the bundled data), got %s", file, v.Line, p, kindName(v)))
					continue
				}
				if err := mergeMapping(om, v, file, p, typed); err != nil {
					errs = append(errs, err.Error())
				}
				continue
			}
		}
		nv, err := nodeValue(v, file, p)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if exists && typed {
			if want, got := typeName(old), typeName(nv); want != got && old != nil {
				errs = append(errs, fmt.Sprintf("%s:%d: %s: want a %s (it is one in the bundled data), got a %s", file, v.Line, p, want, got))
				continue
			}
		}
		if exists && !typed {
			if om, ok := old.(map[string]any); ok {
				if nm, ok := nv.(map[string]any); ok {
					for kk, vv := range nm {
						om[kk] = vv
					}
					continue
				}
			}
		}
		dst[key] = nv
	}
	if len(errs) > 0 {
		return fmt.Errorf("data file %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// nodeValue converts a YAML node to plain Go values, rejecting what JSON (and
// so Rego) cannot hold.
func nodeValue(n *yaml.Node, file, p string) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return nodeValue(n.Alias, file, p)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s:%d: %s: keys must be strings", file, k.Line, p)
			}
			v, err := nodeValue(n.Content[i+1], file, joinKey(p, k.Value))
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := nodeValue(c, file, fmt.Sprintf("%s[%d]", p, i))
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", file, n.Line, p, err)
		}
		switch v.(type) {
		case nil, bool, string, int, int64, uint64, float64:
			return v, nil
		default:
			// Timestamps and binary scalars: keep the text, Rego compares strings.
			return n.Value, nil
		}
	}
	return nil, fmt.Errorf("%s:%d: %s: unsupported YAML node", file, n.Line, p)
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case int, int64, uint64, float64, json.Number:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar " + strings.TrimPrefix(n.ShortTag(), "!!")
	}
	return "an unsupported node"
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// jsonRoundTrip turns YAML-decoded values into the JSON shapes OPA's store
// expects (json.Number for numbers).
func jsonRoundTrip(m map[string]any) (map[string]any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode data: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode data: %w", err)
	}
	return out, nil
}
