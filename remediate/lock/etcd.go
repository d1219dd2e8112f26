package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// callTimeout bounds each request to the coordination etcd.
const callTimeout = 10 * time.Second

// acquireEtcd takes a concurrency.Mutex under <prefix>mutex/<cluster> on a
// session lease of TTL, then records the holder under
// <prefix>holders/<cluster> on the same lease (outside the mutex prefix, so
// it is not mistaken for a waiter), in a transaction that checks the mutex
// is still ours.
func acquireEtcd(ctx context.Context, o Options, info Info) (*Lock, error) {
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	if secs < 2 {
		return nil, fmt.Errorf("lock: TTL %s too short (at least 2s)", ttl)
	}
	prefix := o.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	mutexKey, holderKey := prefix+"mutex/"+o.Cluster, prefix+"holders/"+o.Cluster
	cli := o.Etcd

	// Grant with the caller's deadline; the session's keep-alives then run
	// on their own context for as long as the lock is held.
	gctx, cancel := context.WithTimeout(ctx, callTimeout)
	lease, err := cli.Grant(gctx, secs)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("lock %s: grant lease: %w", mutexKey, err)
	}
	session, err := concurrency.NewSession(cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(secs)))
	if err != nil {
		revoke(cli, lease.ID)
		return nil, fmt.Errorf("lock %s: session: %w", mutexKey, err)
	}
	m := concurrency.NewMutex(session, mutexKey)
	lctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := m.TryLock(lctx); err != nil {
		_ = session.Close()
		if errors.Is(err, concurrency.ErrLocked) {
			return nil, held(lctx, cli, o.Cluster, mutexKey, holderKey)
		}
		return nil, fmt.Errorf("lock %s: %w", mutexKey, err)
	}
	b, _ := json.Marshal(info)
	resp, err := cli.Txn(lctx).If(m.IsOwner()).Then(clientv3.OpPut(holderKey, string(b), clientv3.WithLease(session.Lease()))).Commit()
	if err != nil || !resp.Succeeded {
		_ = m.Unlock(lctx)
		_ = session.Close()
		if err == nil {
			err = errors.New("lost the mutex before recording the holder")
		}
		return nil, fmt.Errorf("lock %s: %w", mutexKey, err)
	}
	release := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		_, derr := cli.Txn(ctx).If(m.IsOwner()).Then(clientv3.OpDelete(holderKey)).Commit()
		uerr := m.Unlock(ctx)
		// Close revokes the lease: anything left on it goes too.
		return errors.Join(derr, uerr, session.Close())
	}
	return &Lock{info: info, release: release, lost: session.Done()}, nil
}

// held describes the current owner for the second acquirer.
func held(ctx context.Context, cli *clientv3.Client, cluster, mutexKey, holderKey string) error {
	e := &HeldError{Cluster: cluster, Where: mutexKey}
	if resp, err := cli.Get(ctx, holderKey); err == nil && len(resp.Kvs) == 1 {
		_ = json.Unmarshal(resp.Kvs[0].Value, &e.Holder)
	}
	owner, err := cli.Get(ctx, mutexKey+"/", clientv3.WithFirstCreate()...)
	if err == nil && len(owner.Kvs) == 1 && owner.Kvs[0].Lease != 0 {
		if ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(owner.Kvs[0].Lease)); err == nil && ttl.TTL > 0 {
			e.Expires = time.Duration(ttl.TTL) * time.Second
		}
	}
	return e
}

func revoke(cli *clientv3.Client, id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, _ = cli.Revoke(ctx, id)
}
