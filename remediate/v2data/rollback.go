package v2data

import (
	"context"
	"fmt"
	"sync"
	"time"

	client "go.etcd.io/etcd/client/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/remediate/leases"
)

// ReimportReport says what Reimport restored.
type ReimportReport struct {
	Keys int `json:"keys"`
	Dirs int `json:"dirs"`
	// AlreadyThere are keys v2 holds with the dump's value.
	AlreadyThere int `json:"already_there"`
	// Expired are keys and directories whose TTL ran out since the dump.
	Expired KeyList `json:"expired"`
	// Conflicts are keys v2 holds with another value now: not overwritten.
	Conflicts KeyList `json:"conflicts"`
}

// Reimport restores the v2 data of a dump (after checking the dump against
// want): directories first, then keys, each created only where nothing is
// (prevExist=false), with what is left of its TTL; a key whose TTL ran out
// since the dump is not restored. A key v2 holds with another value is kept
// and reported, and Reimport then returns an error.
func Reimport(ctx context.Context, kapi client.KeysAPI, dumpPath string, want DumpInfo) (ReimportReport, error) {
	var rep ReimportReport
	if err := VerifyDump(dumpPath, want); err != nil {
		return rep, fmt.Errorf("re-import v2: %w", err)
	}
	var keys []Entry
	var mu sync.Mutex
	ttlLeft := func(e Entry) (time.Duration, bool) {
		if e.Expiration == nil {
			return 0, true
		}
		left := time.Until(*e.Expiration)
		return left, left >= time.Second
	}
	err := ReadDump(dumpPath, nil, func(e Entry) error {
		if !e.Dir {
			keys = append(keys, e)
			return nil
		}
		ttl, ok := ttlLeft(e)
		if !ok {
			rep.Expired.add(e.Key)
			return nil
		}
		sctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
		_, err := kapi.Set(sctx, e.Key, "", &client.SetOptions{Dir: true, PrevExist: client.PrevNoExist, TTL: ttl.Round(time.Second)})
		cancel()
		switch {
		case err == nil:
			rep.Dirs++
		case v2Code(err) == client.ErrorCodeNodeExist: // there already (a parent made by a key, or never deleted)
		default:
			return fmt.Errorf("v2 mkdir %q: %w", e.Key, err)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("re-import v2: %w", err)
	}
	err = parallel(ctx, len(keys), func(i int) error {
		e := keys[i]
		ttl, ok := ttlLeft(e)
		if !ok {
			mu.Lock()
			rep.Expired.add(e.Key)
			mu.Unlock()
			return nil
		}
		sctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
		_, err := kapi.Set(sctx, e.Key, e.Value, &client.SetOptions{PrevExist: client.PrevNoExist, TTL: ttl.Round(time.Second)})
		cancel()
		if v2Code(err) == client.ErrorCodeNodeExist {
			gctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
			resp, gerr := kapi.Get(gctx, e.Key, nil)
			cancel()
			if gerr != nil {
				return fmt.Errorf("v2 get %q: %w", e.Key, gerr)
			}
			mu.Lock()
			defer mu.Unlock()
			if resp.Node.Value == e.Value && !resp.Node.Dir {
				rep.AlreadyThere++
			} else {
				rep.Conflicts.add(e.Key)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("v2 set %q: %w", e.Key, err)
		}
		mu.Lock()
		rep.Keys++
		mu.Unlock()
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("re-import v2: %w", err)
	}
	if rep.Conflicts.Count > 0 {
		return rep, fmt.Errorf("re-import v2: %d keys hold another value now, kept: %q", rep.Conflicts.Count, rep.Conflicts.Keys)
	}
	return rep, nil
}

// DeleteReport says what DeleteCopied removed and what it left.
type DeleteReport struct {
	Deleted int `json:"deleted"`
	// Changed are keys rewritten since the copy (another mod revision):
	// kept. Gone were deleted already (or expired).
	Changed KeyList `json:"changed"`
	Gone    KeyList `json:"gone"`
}

// DeleteCopied undoes a copy in v3: each written key is deleted by its exact
// name and only while it still has the mod revision the copy gave it (a
// transaction comparing it), never by prefix, so a key someone rewrote
// since is kept and reported. Leases are left to expire: revoking one would
// delete whatever else was attached to it since.
func DeleteCopied(ctx context.Context, v3 *clientv3.Client, written []KeyRev) (DeleteReport, error) {
	var rep DeleteReport
	limit := leases.NewOpsLimit(leases.DefaultMaxTxnOps, "delete copied keys", nil)
	err := leases.InBatches(ctx, append([]KeyRev(nil), written...), limit, func(ctx context.Context, part []KeyRev) ([]KeyRev, error) {
		n := len(part)
		cmps := make([]clientv3.Cmp, n)
		dels := make([]clientv3.Op, n)
		gets := make([]clientv3.Op, n)
		for i, w := range part {
			cmps[i] = clientv3.Compare(clientv3.ModRevision(w.Key), "=", w.ModRevision)
			dels[i] = clientv3.OpDelete(w.Key)
			gets[i] = clientv3.OpGet(w.Key, clientv3.WithKeysOnly())
		}
		tctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
		resp, err := v3.Txn(tctx).If(cmps...).Then(dels...).Else(gets...).Commit()
		cancel()
		if err != nil { // too many ops: InBatches halves the limit and tries again
			return nil, fmt.Errorf("delete copied keys from %q: %w", part[0].Key, err)
		}
		if resp.Succeeded {
			rep.Deleted += n
			return nil, nil
		}
		var again []KeyRev
		for i, r := range resp.Responses {
			kvs := r.GetResponseRange().GetKvs()
			switch {
			case len(kvs) == 0:
				rep.Gone.add(part[i].Key)
			case kvs[0].ModRevision != part[i].ModRevision:
				rep.Changed.add(part[i].Key)
			default:
				again = append(again, part[i])
			}
		}
		return again, nil
	})
	return rep, err
}

// FindCopied lists what a copy left in v3 when it died before it could
// report what it wrote (killed mid-way): every v2 key under prefixes that
// v3 holds with the identical value, with its mod revision and lease, for
// DeleteCopied. It rests on what a resumed copy rests on: the conflict
// check before the copy found v3 empty under the prefixes, and the writers
// were stopped, so a v3 key holding exactly its v2 value is the copy's. A
// v3 key holding another value is not the copy's: it is left out and
// returned in other. v2 must still hold the data (the cleanup has not run).
func FindCopied(ctx context.Context, kapi client.KeysAPI, v3 *clientv3.Client, prefixes []string) (written []KeyRev, other KeyList, err error) {
	var batch []*client.Node
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ops := make([]clientv3.Op, len(batch))
		for i, n := range batch {
			ops[i] = clientv3.OpGet(n.Key)
		}
		resps, err := txnGets(ctx, v3, ops)
		if err != nil {
			return err
		}
		for i, n := range batch {
			switch kvs := resps[i]; {
			case len(kvs) == 0:
			case string(kvs[0].Value) == n.Value:
				written = append(written, KeyRev{Key: n.Key, ModRevision: kvs[0].ModRevision, Lease: kvs[0].Lease, V2Index: n.ModifiedIndex})
			default:
				other.add(n.Key)
			}
		}
		batch = batch[:0]
		return nil
	}
	for _, raw := range prefixes {
		p, err := cleanPrefix(raw)
		if err != nil {
			return nil, other, fmt.Errorf("find copied keys: %w", err)
		}
		err = walk(ctx, kapi, p, DefaultTimeout, func(n *client.Node) error {
			if n.Dir {
				return nil
			}
			if batch = append(batch, n); len(batch) >= leases.DefaultMaxTxnOps {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return nil, other, fmt.Errorf("find copied keys under %q: %w", p, err)
		}
	}
	return written, other, nil
}
