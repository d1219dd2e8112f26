package k8swriter

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	client "go.etcd.io/etcd/client/v2"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrLost says an acknowledged write is neither present nor expired.
var ErrLost = errors.New("acknowledged writes lost")

// expirySlack: a key written at t with a TTL may be gone a little before
// the logged acknowledgement time + TTL (the write landed before the ack).
const expirySlack = 2 * time.Second

// CheckReport is the verdict on a writer's log.
type CheckReport struct {
	// Acks counts logged writes; Keys the distinct keys, each judged by its
	// last acknowledged write.
	Acks, Keys int
	// Present holds the last acknowledged value; Expired are events whose
	// TTL ran out; Lost are the others (absent, or holding another value).
	Present, Expired int
	Lost             []string
}

// Check reads a writer's log and looks up each key's last acknowledged
// write: in v3 when v3 is not nil, then in v2 when kapi is not nil (a key
// not migrated yet). A key holding the acknowledged value is present; an
// absent event whose TTL ran out is expired; anything else is lost and
// Check returns ErrLost.
func Check(ctx context.Context, log io.Reader, kapi client.KeysAPI, v3 *clientv3.Client) (CheckReport, error) {
	var rep CheckReport
	last := map[string]Ack{}
	sc := bufio.NewScanner(log)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var a Ack
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return rep, fmt.Errorf("writer log line %d: %w", rep.Acks+1, err)
		}
		rep.Acks++
		if prev, ok := last[a.Key]; !ok || a.Seq > prev.Seq {
			last[a.Key] = a
		}
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("writer log: %w", err)
	}
	rep.Keys = len(last)
	keys := make([]string, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := last[k]
		sum, found, err := lookup(ctx, k, kapi, v3)
		if err != nil {
			return rep, err
		}
		switch {
		case found && sum == a.SHA256:
			rep.Present++
		case !found && a.TTL > 0 && time.Now().After(a.Time.Add(time.Duration(a.TTL)*time.Second-expirySlack)):
			rep.Expired++
		default:
			rep.Lost = append(rep.Lost, k)
		}
	}
	if len(rep.Lost) > 0 {
		return rep, fmt.Errorf("%w: %d of %d keys, first %q", ErrLost, len(rep.Lost), rep.Keys, rep.Lost[0])
	}
	return rep, nil
}

// lookup returns the sha256 of key's value in v3, else in v2.
func lookup(ctx context.Context, key string, kapi client.KeysAPI, v3 *clientv3.Client) (string, bool, error) {
	hash := func(v []byte) string {
		s := sha256.Sum256(v)
		return hex.EncodeToString(s[:])
	}
	if v3 != nil {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := v3.Get(gctx, key)
		cancel()
		if err != nil {
			return "", false, fmt.Errorf("v3 get %q: %w", key, err)
		}
		if len(resp.Kvs) > 0 {
			return hash(resp.Kvs[0].Value), true, nil
		}
	}
	if kapi != nil {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := kapi.Get(gctx, key, nil)
		cancel()
		switch {
		case client.IsKeyNotFound(err):
		case err != nil:
			return "", false, fmt.Errorf("v2 get %q: %w", key, err)
		default:
			return hash([]byte(resp.Node.Value)), true, nil
		}
	}
	return "", false, nil
}
