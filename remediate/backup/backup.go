package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// DefaultTimeout bounds a snapshot when the caller's context has no
// deadline: streaming an 8 GiB database over a slow link takes minutes.
const DefaultTimeout = 15 * time.Minute

// ErrVerify wraps every reason a snapshot file fails verification.
var ErrVerify = errors.New("snapshot verification failed")

// Snapshot streams the endpoint's database (Maintenance.Snapshot) into
// path: written to path.part, fsynced, renamed, its directory fsynced, then
// verified with Verify against the revision the member reported just before
// the stream began. cli must be a client to that one endpoint, as etcd's own
// snapshot.Save requires: a multi-endpoint client streams from whichever
// member it happens to be connected to. On any error no file is left at path.
func Snapshot(ctx context.Context, cli *clientv3.Client, endpoint, path string) (Info, error) {
	info := Info{Path: path, Member: endpoint}
	if eps := cli.Endpoints(); !slices.Equal(eps, []string{endpoint}) {
		return info, fmt.Errorf("snapshot of %s: the client must have that one endpoint, has %v", endpoint, eps)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	st, err := cli.Status(ctx, endpoint)
	if err != nil {
		return info, fmt.Errorf("snapshot of %s: status: %w", endpoint, err)
	}
	before := st.Header.Revision

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return info, fmt.Errorf("snapshot of %s: %w", endpoint, err)
	}
	part := path + ".part"
	sum, size, err := stream(ctx, cli, part)
	if err != nil {
		_ = os.Remove(part)
		return info, fmt.Errorf("snapshot of %s to %s: %w", endpoint, part, err)
	}
	if err := os.Rename(part, path); err != nil {
		_ = os.Remove(part)
		return info, fmt.Errorf("snapshot of %s: %w", endpoint, err)
	}
	syncDir(filepath.Dir(path))
	info.SHA256, info.Size, info.Taken = sum, size, time.Now().UTC()

	status, err := verify(path, Info{SHA256: sum, Size: size, Revision: before})
	if err != nil {
		_ = os.Remove(path)
		return info, err
	}
	info.Revision, info.TotalKeys, info.Hash = status.Revision, status.TotalKey, status.Hash
	return info, nil
}

// stream writes the snapshot to file, fsyncs it and returns its sha256.
func stream(ctx context.Context, cli *clientv3.Client, file string) (string, int64, error) {
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = rc.Close() }()
	f, err := os.OpenFile(file, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), rc)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Verify checks a snapshot file before it is trusted (after taking it, and
// again before a restore): the file's sha256 and size when want has them;
// the integrity hash etcd appends to a streamed snapshot (the check `etcdutl
// snapshot restore` makes, etcdutl/snapshot/v3_snapshot.go copyAndVerifyDB);
// then etcd's own snapshot status (bbolt consistency check, crc32 hash of
// every bucket, revision, key count) against want: the same hash when
// want.Hash is set, a revision at least want.Revision. Every failure wraps
// ErrVerify and says what differs.
func Verify(path string, want Info) error {
	_, err := verify(path, want)
	return err
}

func verify(path string, want Info) (snapshot.Status, error) {
	fail := func(format string, a ...any) (snapshot.Status, error) {
		return snapshot.Status{}, fmt.Errorf("%w: %s: %s", ErrVerify, path, fmt.Sprintf(format, a...))
	}
	f, err := os.Open(path)
	if err != nil {
		return fail("%v", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return fail("%v", err)
	}
	size := fi.Size()
	if want.Size > 0 && size != want.Size {
		return fail("size %d bytes, want %d (truncated or replaced)", size, want.Size)
	}
	if size < 512+sha256.Size || size%512 != sha256.Size {
		return fail("size %d bytes is not a database plus etcd's 32-byte integrity hash (truncated, or not a snapshot stream)", size)
	}
	whole, tail := sha256.New(), make([]byte, sha256.Size)
	db := sha256.New()
	if _, err := io.Copy(io.MultiWriter(whole, db), io.LimitReader(f, size-sha256.Size)); err != nil {
		return fail("read: %v", err)
	}
	if _, err := io.ReadFull(f, tail); err != nil {
		return fail("read: %v", err)
	}
	whole.Write(tail)
	if got := hex.EncodeToString(whole.Sum(nil)); want.SHA256 != "" && got != want.SHA256 {
		return fail("sha256 %s, want %s (the file changed since it was taken)", got, want.SHA256)
	}
	if !bytes.Equal(db.Sum(nil), tail) {
		return fail("etcd's integrity hash does not match the database (altered or corrupted)")
	}

	st, err := snapshot.NewV3(zap.NewNop()).Status(path)
	if err != nil {
		return fail("etcd snapshot status: %v", err)
	}
	if want.Hash != 0 && st.Hash != want.Hash {
		return fail("etcd snapshot hash %d, want %d", st.Hash, want.Hash)
	}
	// Every revision leaves an entry in the key bucket, and a compaction
	// keeps the entry at its own revision (a tombstone too), so the
	// newest entry is the database's revision. Revision 1 is a new
	// cluster's, which has no entry.
	if st.Revision < want.Revision && want.Revision > 1 {
		return fail("revision %d is below %d, the revision read when the snapshot was taken", st.Revision, want.Revision)
	}
	if st.TotalKey == 0 {
		return fail("no keys at all (not an etcd database)")
	}
	return st, nil
}
