package seed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Registry describes a Kubernetes-like /registry tree: the data a cluster
// holds while an apiserver uses it as its storage backend.
type Registry struct {
	// Prefix is the apiserver's --etcd-prefix (default "/registry").
	Prefix string
	// Namespaces is how many namespaces (default 2); the per-namespace
	// counts apply to each.
	Namespaces                                                 int
	PodsPerNamespace, ServicesPerNamespace, EventsPerNamespace int
	// EventTTL is the apiserver's --event-ttl. In v2 events get it as a key
	// TTL; in v3 they share leases of it (KeysPerLease each). Zero writes
	// events without TTL or lease, as `etcdctl migrate` left them.
	EventTTL time.Duration
}

// RegistryResult counts what a registry seeder wrote.
type RegistryResult struct {
	Namespaces, Pods, Services, Events int
	// Keys is the total of the four.
	Keys int
	// Dirs (v2 only) counts the directories the keys imply: the prefix, one
	// per resource, one per namespace under each namespaced resource. It is
	// exact when the tree did not exist before.
	Dirs int
	// Leases (v3 only) are the events' leases.
	Leases []clientv3.LeaseID
}

type registryKey struct {
	kind, key string
	obj       map[string]any
	event     bool
}

// keys lists the tree's keys in a fixed order. Paths follow the apiserver's:
// namespaces/<ns>, pods/<ns>/<name>, services/specs/<ns>/<name>,
// events/<ns>/<involved-object>.<suffix>.
func (r Registry) keys() []registryKey {
	prefix := "/" + strings.Trim(r.Prefix, "/")
	if r.Prefix == "" {
		prefix = "/registry"
	}
	nsCount := r.Namespaces
	if nsCount == 0 {
		nsCount = 2
	}
	meta := func(name, ns string) map[string]any {
		m := map[string]any{"name": name, "uid": fmt.Sprintf("%08x-0000-4000-8000-%012x", len(name)*7919, len(ns)*104729+len(name))}
		if ns != "" {
			m["namespace"] = ns
		}
		return m
	}
	var out []registryKey
	for n := range nsCount {
		ns := fmt.Sprintf("ns-%d", n)
		out = append(out, registryKey{kind: "Namespace", key: prefix + "/namespaces/" + ns,
			obj: map[string]any{"kind": "Namespace", "apiVersion": "v1", "metadata": meta(ns, ""), "status": map[string]string{"phase": "Active"}}})
		for i := range r.PodsPerNamespace {
			name := fmt.Sprintf("web-%d", i)
			out = append(out, registryKey{kind: "Pod", key: fmt.Sprintf("%s/pods/%s/%s", prefix, ns, name),
				obj: map[string]any{"kind": "Pod", "apiVersion": "v1", "metadata": meta(name, ns),
					"spec":   map[string]any{"nodeName": fmt.Sprintf("node-%d", i%3), "containers": []map[string]string{{"name": "web", "image": "nginx:1.13"}}},
					"status": map[string]string{"phase": "Running"}}})
		}
		for i := range r.ServicesPerNamespace {
			name := fmt.Sprintf("svc-%d", i)
			out = append(out, registryKey{kind: "Service", key: fmt.Sprintf("%s/services/specs/%s/%s", prefix, ns, name),
				obj: map[string]any{"kind": "Service", "apiVersion": "v1", "metadata": meta(name, ns),
					"spec": map[string]any{"clusterIP": fmt.Sprintf("10.0.%d.%d", n, i%250+1), "ports": []map[string]int{{"port": 80}}}}})
		}
		for i := range r.EventsPerNamespace {
			name := fmt.Sprintf("web-%d.%x", i, 0x15a0000000000000+uint64(i))
			out = append(out, registryKey{kind: "Event", key: fmt.Sprintf("%s/events/%s/%s", prefix, ns, name), event: true,
				obj: map[string]any{"kind": "Event", "apiVersion": "v1", "metadata": meta(name, ns),
					"reason": "BackOff", "message": "Back-off restarting failed container", "count": i%9 + 1}})
		}
	}
	return out
}

func (r Registry) validate() error {
	if r.Namespaces < 0 || r.PodsPerNamespace < 0 || r.ServicesPerNamespace < 0 || r.EventsPerNamespace < 0 {
		return errors.New("seed registry: negative count")
	}
	if r.EventTTL != 0 && r.EventTTL < time.Second {
		return fmt.Errorf("seed registry: event ttl %s: want 0 or at least 1s", r.EventTTL)
	}
	return nil
}

func (res *RegistryResult) count(k registryKey) {
	switch k.kind {
	case "Namespace":
		res.Namespaces++
	case "Pod":
		res.Pods++
	case "Service":
		res.Services++
	case "Event":
		res.Events++
	}
	res.Keys++
}

// RegistryV2 writes the tree through the v2 keys API with JSON values, as
// the apiserver's etcd2 backend stored it (deprecated in Kubernetes 1.9,
// removed in 1.13). endpoint needs --enable-v2.
func RegistryV2(ctx context.Context, hc *http.Client, endpoint string, r Registry) (RegistryResult, error) {
	var res RegistryResult
	if err := r.validate(); err != nil {
		return res, err
	}
	keys := r.keys()
	dirs := map[string]bool{}
	for _, k := range keys {
		for d := path.Dir(k.key); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	w := v2Writer{hc: hc, endpoint: strings.TrimRight(endpoint, "/")}
	ttl := int(r.EventTTL / time.Second)
	written := make([]bool, len(keys))
	_, err := w.parallel(ctx, len(keys), func(i int) error {
		k := keys[i]
		b, _ := json.Marshal(k.obj)
		t := 0
		if k.event {
			t = ttl
		}
		if err := w.put(ctx, k.key, string(b), false, t); err != nil {
			return err
		}
		written[i] = true
		return nil
	})
	for i, ok := range written {
		if ok {
			res.count(keys[i])
		}
	}
	res.Dirs = len(dirs)
	if err != nil {
		return res, fmt.Errorf("seed v2 registry: %w", err)
	}
	return res, nil
}

// RegistryV3 writes the tree in the v3 store with values in the apiserver's
// protobuf envelope ("k8s\x00" magic, then the type and the object). Events
// share leases of EventTTL unless it is zero.
func RegistryV3(ctx context.Context, cli *clientv3.Client, r Registry) (RegistryResult, error) {
	var res RegistryResult
	if err := r.validate(); err != nil {
		return res, err
	}
	keys := r.keys()
	events := 0
	for _, k := range keys {
		if k.event {
			events++
		}
	}
	if r.EventTTL > 0 {
		for i := 0; i < events; i += KeysPerLease {
			l, err := cli.Grant(ctx, int64(r.EventTTL/time.Second))
			if err != nil {
				return res, fmt.Errorf("seed v3 registry: grant lease: %w", err)
			}
			res.Leases = append(res.Leases, l.ID)
		}
	}
	leaseOf := make([]clientv3.LeaseID, len(keys))
	e := 0
	for i, k := range keys {
		if k.event && len(res.Leases) > 0 {
			leaseOf[i] = res.Leases[e/KeysPerLease]
			e++
		}
	}
	_, err := putAll(ctx, cli, len(keys), func(i int) clientv3.Op {
		k := keys[i]
		b, _ := json.Marshal(k.obj)
		v := k8sMagic + "\n\x0b\n\x02v1\x12" + string(rune(len(k.kind))) + k.kind + "\x12" + string(b)
		if leaseOf[i] != 0 {
			return clientv3.OpPut(k.key, v, clientv3.WithLease(leaseOf[i]))
		}
		return clientv3.OpPut(k.key, v)
	}, func(start, end int) {
		for _, k := range keys[start:end] {
			res.count(k)
		}
	})
	if err != nil {
		return res, fmt.Errorf("seed v3 registry: %w", err)
	}
	return res, nil
}
