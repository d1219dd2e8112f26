package v2data

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	client "go.etcd.io/etcd/client/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/remediate/leases"
)

// ErrMismatch says the verification found v2 data that v3 does not hold.
var ErrMismatch = errors.New("v3 does not hold the v2 data")

// maxListed caps each key list of a report; the counts stay exact.
const maxListed = 100

// KeyList is a count and the first keys of a kind.
type KeyList struct {
	Count int      `json:"count"`
	Keys  []string `json:"keys,omitempty"`
}

func (l *KeyList) add(k string) {
	l.Count++
	if len(l.Keys) < maxListed {
		l.Keys = append(l.Keys, k)
	}
}

// VerifyReport is the key-by-key comparison of v2 with v3.
type VerifyReport struct {
	// Matched counts v2 keys whose v3 value has the same sha256.
	Matched int `json:"matched"`
	// Missing are v2 keys (or copied keys without a TTL) absent from v3;
	// Mismatched hold another value; Unleased had a TTL in v2 but no lease in v3.
	Missing    KeyList `json:"missing"`
	Mismatched KeyList `json:"mismatched"`
	Unleased   KeyList `json:"unleased"`
	// Expired are keys with a TTL that are gone because it ran out: not an
	// error, reported so a reader can see them.
	Expired KeyList `json:"expired"`
}

// OK reports whether v3 holds everything it should.
func (r VerifyReport) OK() bool {
	return r.Missing.Count == 0 && r.Mismatched.Count == 0 && r.Unleased.Count == 0
}

// expirySlack is how close to its expiry a v2 TTL key may be when read and
// still count as legitimately expired if v3 no longer has it by the time it
// is looked up (the two reads are not atomic).
const expirySlack = 2 * time.Second

// VerifyCopy compares, key by key, every v2 key under prefixes with v3 by
// the sha256 of the values, and checks that v2 TTL keys hold a lease in v3.
// written (the copy's report, may be nil) adds the keys the copy wrote that
// v2 no longer has: gone from v3 too is legitimate for a leased one
// (expired), a loss for the others. It returns ErrMismatch when the report
// is not OK.
func VerifyCopy(ctx context.Context, kapi client.KeysAPI, v3 *clientv3.Client, prefixes []string, written []KeyRev) (VerifyReport, error) {
	var rep VerifyReport
	seen := map[string]bool{}
	type check struct {
		key    string
		hash   [32]byte
		ttl    bool
		expiry time.Time
	}
	var batch []check
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ops := make([]clientv3.Op, len(batch))
		for i, c := range batch {
			ops[i] = clientv3.OpGet(c.key)
		}
		resps, err := txnGets(ctx, v3, ops)
		if err != nil {
			return err
		}
		for i, c := range batch {
			kvs := resps[i]
			switch {
			case len(kvs) == 0 && c.ttl && time.Now().Add(expirySlack).After(c.expiry):
				rep.Expired.add(c.key)
			case len(kvs) == 0:
				rep.Missing.add(c.key)
			case sha256.Sum256(kvs[0].Value) != c.hash:
				rep.Mismatched.add(c.key)
			case c.ttl && kvs[0].Lease == 0:
				rep.Unleased.add(c.key)
			default:
				rep.Matched++
			}
		}
		batch = batch[:0]
		return nil
	}
	for _, raw := range prefixes {
		p, err := cleanPrefix(raw)
		if err != nil {
			return rep, fmt.Errorf("verify copy: %w", err)
		}
		err = walk(ctx, kapi, p, DefaultTimeout, func(n *client.Node) error {
			if n.Dir {
				return nil
			}
			seen[n.Key] = true
			c := check{key: n.Key, hash: sha256.Sum256([]byte(n.Value)), ttl: hasTTL(n)}
			if c.ttl {
				c.expiry = time.Now().Add(remainingTTL(n, time.Now()))
			}
			if batch = append(batch, c); len(batch) >= leases.DefaultMaxTxnOps {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return rep, fmt.Errorf("verify copy under %q: %w", p, err)
		}
	}
	// Copied keys v2 no longer has: their TTL ran out in both stores, or
	// someone deleted them from v2 (then v3 must still have them).
	var gone []KeyRev
	for _, w := range written {
		if !seen[w.Key] {
			gone = append(gone, w)
		}
	}
	for start := 0; start < len(gone); start += leases.DefaultMaxTxnOps {
		part := gone[start:min(start+leases.DefaultMaxTxnOps, len(gone))]
		ops := make([]clientv3.Op, len(part))
		for i, w := range part {
			ops[i] = clientv3.OpGet(w.Key, clientv3.WithKeysOnly())
		}
		resps, err := txnGets(ctx, v3, ops)
		if err != nil {
			return rep, fmt.Errorf("verify copy: %w", err)
		}
		for i, w := range part {
			switch {
			case len(resps[i]) > 0:
			case w.Lease != 0:
				rep.Expired.add(w.Key)
			default:
				rep.Missing.add(w.Key)
			}
		}
	}
	if !rep.OK() {
		return rep, fmt.Errorf("verify copy: %w: %d missing, %d with another value, %d without their lease",
			ErrMismatch, rep.Missing.Count, rep.Mismatched.Count, rep.Unleased.Count)
	}
	return rep, nil
}

// txnGets runs gets in read-only transactions and returns each one's
// key-values: one transaction (one revision) when the server allows that
// many operations, halves otherwise (a --max-txn-ops below 128).
func txnGets(ctx context.Context, v3 *clientv3.Client, gets []clientv3.Op) ([][]*mvccpb.KeyValue, error) {
	var resp *clientv3.TxnResponse
	err := leases.Retry(ctx, func() (err error) {
		tctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
		resp, err = v3.Txn(tctx).Then(gets...).Commit()
		return err
	})
	if errors.Is(err, rpctypes.ErrTooManyOps) && len(gets) > 1 {
		half := len(gets) / 2
		first, err := txnGets(ctx, v3, gets[:half])
		if err != nil {
			return nil, err
		}
		rest, err := txnGets(ctx, v3, gets[half:])
		if err != nil {
			return nil, err
		}
		return append(first, rest...), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %d v3 keys: %w", len(gets), err)
	}
	out := make([][]*mvccpb.KeyValue, len(resp.Responses))
	for i, r := range resp.Responses {
		out[i] = r.GetResponseRange().GetKvs()
	}
	return out, nil
}
