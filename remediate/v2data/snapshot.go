package v2data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// RaftIndex returns the highest raft index the endpoints report: taken right
// after Cleanup, it is the index every member's newest snapshot must pass
// before a 3.6 binary may start (KNOWLEDGE "Verified here", steps 2-4).
func RaftIndex(ctx context.Context, v3 *clientv3.Client, endpoints []string) (uint64, error) {
	var top uint64
	for _, ep := range endpoints {
		sctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
		st, err := v3.Status(sctx, ep)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("raft index of %s: %w", ep, err)
		}
		top = max(top, st.RaftIndex)
	}
	return top, nil
}

// LatestSnapshot returns the raft term and index of the newest
// member/snap/<term>-<index>.snap in an etcd data dir (0, 0 when none).
func LatestSnapshot(dataDir string) (term, index uint64, err error) {
	dir := filepath.Join(dataDir, "member", "snap")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("snapshots in %s: %w", dir, err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".snap")
		if !ok {
			continue
		}
		var t, i uint64
		if _, err := fmt.Sscanf(name, "%016x-%016x", &t, &i); err != nil {
			continue // a .snap.broken or a stray file
		}
		if i > index {
			term, index = t, i
		}
	}
	return term, index, nil
}

// ErrSnapshotBehind says a member's newest snapshot does not cover the v2
// deletion yet: 3.6 would load the v2 data from it and refuse to start
// ("detected disallowed custom content in v2store").
var ErrSnapshotBehind = errors.New("newest snapshot is not past the v2 deletion")

// SnapshotsPast checks that the newest snapshot of every member (name → data
// dir, read where the member runs: a hook or the host) has an index above
// index. Only --snapshot-count makes etcd write one; `etcdctl snapshot
// save`, defrag and compaction do not.
func SnapshotsPast(dataDirs map[string]string, index uint64) error {
	names := make([]string, 0, len(dataDirs))
	for n := range dataDirs {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		_, got, err := LatestSnapshot(dataDirs[n])
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("member %s: %w", n, err))
		case got <= index:
			errs = append(errs, fmt.Errorf("member %s: %w: snapshot index %d, deletion at %d", n, ErrSnapshotBehind, got, index))
		}
	}
	return errors.Join(errs...)
}

// ErrNoV2StoreCheck says the etcdutl given has no `check v2store` (before
// 3.5.18, or a build without the check command): fall back on the snapshot
// indexes (SnapshotsPast).
var ErrNoV2StoreCheck = errors.New("etcdutl has no `check v2store`")

// CheckV2Store runs `etcdutl check v2store --data-dir dataDir` (etcdutl
// 3.5.18+ and 3.6) on a stopped member's data dir and returns its verdict:
// nil when the v2 store in the newest snapshot and the WAL after it hold
// nothing 3.6 refuses. The output is part of the error otherwise.
func CheckV2Store(ctx context.Context, etcdutl, dataDir string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdutl, "check", "v2store", "--data-dir", dataDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tail := out.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		if strings.Contains(tail, "unknown command") {
			return fmt.Errorf("%s: %w: %s", etcdutl, ErrNoV2StoreCheck, strings.TrimSpace(tail))
		}
		return fmt.Errorf("%s check v2store --data-dir %s: %w: %s", etcdutl, dataDir, err, strings.TrimSpace(tail))
	}
	return nil
}
