package seed

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// KeysPerLease is how many events share one lease, as the Kubernetes
// apiserver's lease manager reuses a lease for up to 1,000 objects
// (--lease-reuse-duration-seconds, LeaseMaxObjectCount).
const KeysPerLease = 1000

// EventNamespaces is how many namespaces events are spread over.
const EventNamespaces = 8

// EventsResult says exactly what Events wrote.
type EventsResult struct {
	// Leased and Unleased count the keys written with and without a lease.
	Leased, Unleased int
	// Leases are the leases granted, in order; key i of the leased ones holds
	// Leases[i/KeysPerLease].
	Leases []clientv3.LeaseID
}

// Events writes Kubernetes-like events keys under prefix (say
// "/registry/events/"): leased ones named <prefix>ns-<n>/leased-<i>, sharing
// leases of ttl as the apiserver does, and unleased ones named
// <prefix>ns-<n>/unleased-<i>, as etcdctl migrate left them. The ttl must
// outlast the test: when a lease expires its keys go with it.
func Events(ctx context.Context, cli *clientv3.Client, prefix string, leased, unleased int, ttl time.Duration) (EventsResult, error) {
	var res EventsResult
	if leased < 0 || unleased < 0 {
		return res, errors.New("seed events: negative count")
	}
	if leased > 0 && ttl < time.Second {
		return res, fmt.Errorf("seed events: ttl %s: leases need at least 1s", ttl)
	}
	for i := 0; i < leased; i += KeysPerLease {
		l, err := cli.Grant(ctx, int64(ttl/time.Second))
		if err != nil {
			return res, fmt.Errorf("seed events: grant lease %d: %w", len(res.Leases)+1, err)
		}
		res.Leases = append(res.Leases, l.ID)
	}
	val := eventValue()
	n, err := putAll(ctx, cli, leased, func(i int) clientv3.Op {
		key := fmt.Sprintf("%sns-%d/leased-%08d", prefix, i%EventNamespaces, i)
		return clientv3.OpPut(key, val, clientv3.WithLease(res.Leases[i/KeysPerLease]))
	}, nil)
	res.Leased = n
	if err != nil {
		return res, fmt.Errorf("seed leased events under %q: %w", prefix, err)
	}
	n, err = putAll(ctx, cli, unleased, func(i int) clientv3.Op {
		return clientv3.OpPut(fmt.Sprintf("%sns-%d/unleased-%08d", prefix, i%EventNamespaces, i), val)
	}, nil)
	res.Unleased = n
	if err != nil {
		return res, fmt.Errorf("seed unleased events under %q: %w", prefix, err)
	}
	return res, nil
}

// eventValue is a stand-in for a protobuf-encoded v1 Event: the "k8s\x00"
// magic the apiserver writes, then opaque bytes of a typical size.
func eventValue() string {
	return k8sMagic + "\n\x0b\n\x02v1\x12\x05Event\x12\x60" +
		"reason=BackOff message=Back-off restarting failed container source=kubelet count=7"
}

// k8sMagic prefixes protobuf values the apiserver stores in etcd3.
const k8sMagic = "k8s\x00"
