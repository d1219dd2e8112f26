package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/etcdaudit/etcdaudit/internal/etcdversion"
)

func v2CountCollector() Registration {
	return Registration{
		Name:      "v2_count",
		Scope:     ScopeMember,
		Cost:      CostPrefixWalk,
		Help:      "counts custom v2 keys, directories and TTL keys, and the /registry keys among them (one recursive GET, streamed)",
		Collector: CollectorFunc(collectV2Count),
	}
}

// Limits that keep a hostile or enormous v2 answer from exhausting the
// auditor: etcd's own v2 store refuses nothing like this depth.
const (
	maxV2Depth   = 512
	maxV2Samples = 10
)

// collectV2Count walks the v2 store with one recursive, non-quorum GET and
// counts nodes as they stream in, so memory stays flat however many keys
// there are. The keys API only shows the user keyspace: etcd's own entries
// (membership under /0, hidden "_" nodes) are not in it, so every node
// counted is custom data that 3.6 would refuse.
func collectV2Count(ctx context.Context, t *Target) error {
	m := t.Member
	f := m.Facts.V2
	if f == nil {
		f = &V2Facts{}
		if v := m.Facts.Version; v != nil && etcdversion.AtLeast(v.Server, 3, 6) {
			m.Facts.V2 = f
			return nil
		}
	} else if !f.Enabled {
		return nil
	}
	resp, err := v2Do(ctx, t, v2URL(t, "/", "recursive=true&sorted=true"))
	if err != nil {
		return fmt.Errorf("v2 recursive GET: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		if m.Facts.V2 != nil && m.Facts.V2.Enabled {
			return fmt.Errorf("v2 recursive GET: HTTP 404, but the v2 API answered a moment ago")
		}
		m.Facts.V2 = &V2Facts{Enabled: false}
		return nil
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("v2 recursive GET: HTTP %d: %s", resp.StatusCode, snippet(body))
	}
	c := v2Counter{registry: strings.TrimSuffix(t.Cluster.registryPrefix(), "/")}
	if err := c.document(json.NewDecoder(resp.Body)); err != nil {
		return fmt.Errorf("v2 recursive GET: %w", rpcError(ctx, err))
	}
	out := *f
	out.Enabled, out.Counted = true, true
	out.Keys, out.Dirs, out.TTLKeys = c.keys, c.dirs, c.ttl
	out.RegistryKeys = c.registryKeys
	out.RegistryPresent = c.registryNodes > 0
	out.SampleKeys = c.samples
	if err := v2Auth(ctx, t, &out); err != nil {
		out.AuthError = err.Error()
	}
	m.Facts.V2 = &out
	return nil
}

// v2Counter counts nodes from a streamed v2 JSON answer.
type v2Counter struct {
	registry        string
	keys, dirs, ttl int64
	registryKeys    int64
	registryNodes   int64
	samples         []string
}

// document reads {"action":…, "node":{…}} and counts below the root node.
func (c *v2Counter) document(dec *json.Decoder) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		name, err := objectKey(dec)
		if err != nil {
			return err
		}
		if name != "node" {
			if err := skipValue(dec); err != nil {
				return err
			}
			continue
		}
		if err := c.node(dec, 0); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

// node counts one node and its children; depth 0 is the root, not counted.
func (c *v2Counter) node(dec *json.Decoder, depth int) error {
	if depth > maxV2Depth {
		return fmt.Errorf("v2 tree deeper than %d levels", maxV2Depth)
	}
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	var key string
	var dir, hasTTL bool
	for dec.More() {
		name, err := objectKey(dec)
		if err != nil {
			return err
		}
		switch name {
		case "key":
			if err := dec.Decode(&key); err != nil {
				return fmt.Errorf("node key: %w", err)
			}
		case "dir":
			if err := dec.Decode(&dir); err != nil {
				return fmt.Errorf("node %q dir: %w", key, err)
			}
		case "ttl":
			var ttl json.Number
			if err := dec.Decode(&ttl); err != nil {
				return fmt.Errorf("node %q ttl: %w", key, err)
			}
			hasTTL = true
		case "nodes":
			if err := expectDelim(dec, '['); err != nil {
				return err
			}
			for dec.More() {
				if err := c.node(dec, depth+1); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
		default:
			if err := skipValue(dec); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if depth == 0 {
		return nil
	}
	inRegistry := key == c.registry || strings.HasPrefix(key, c.registry+"/")
	if inRegistry {
		c.registryNodes++
	}
	if dir {
		c.dirs++
		return nil
	}
	c.keys++
	if hasTTL {
		c.ttl++
	}
	if inRegistry {
		c.registryKeys++
	}
	if len(c.samples) < maxV2Samples {
		c.samples = append(c.samples, DisplayKey([]byte(key)))
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("malformed v2 answer: want %q, got %v", want, tok)
	}
	return nil
}

func objectKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("malformed v2 answer: want an object key, got %v", tok)
	}
	return s, nil
}

// skipValue discards the next value, however nested, without keeping it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
