package v2data

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	client "go.etcd.io/etcd/client/v2"
)

// Entry is one line of a dump: a v2 key or directory.
type Entry struct {
	Key   string `json:"key"`
	Dir   bool   `json:"dir,omitempty"`
	Value string `json:"value,omitempty"`
	// TTL is the remaining time to live in seconds when the dump read the
	// node (0: none); Expiration is the server's absolute expiry, which is
	// what a re-import counts from.
	TTL        int64      `json:"ttl,omitempty"`
	Expiration *time.Time `json:"expiration,omitempty"`
	Created    uint64     `json:"created"`
	Modified   uint64     `json:"modified"`
}

// DumpInfo identifies a dump: what it holds, its size and its sha256.
type DumpInfo struct {
	Keys    int    `json:"keys"`
	Dirs    int    `json:"dirs"`
	TTLKeys int    `json:"ttl_keys"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
}

// Dump streams every key and directory under prefixes to w as JSON lines
// (one Entry each, key order, a directory before its children), reading one
// v2 directory at a time. It returns the counts and the sha256 of what it wrote.
func Dump(ctx context.Context, kapi client.KeysAPI, prefixes []string, w io.Writer) (DumpInfo, error) {
	var info DumpInfo
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	bw := bufio.NewWriterSize(cw, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, raw := range prefixes {
		p, err := cleanPrefix(raw)
		if err != nil {
			return info, fmt.Errorf("dump v2: %w", err)
		}
		err = walk(ctx, kapi, p, DefaultTimeout, func(n *client.Node) error {
			e := Entry{Key: n.Key, Dir: n.Dir, Value: n.Value, TTL: n.TTL, Expiration: n.Expiration,
				Created: n.CreatedIndex, Modified: n.ModifiedIndex}
			if err := enc.Encode(e); err != nil {
				return err
			}
			info.add(e)
			return nil
		})
		if err != nil {
			return info, fmt.Errorf("dump v2 %q: %w", p, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return info, fmt.Errorf("dump v2: %w", err)
	}
	info.Bytes = cw.n
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	return info, nil
}

func (d *DumpInfo) add(e Entry) {
	switch {
	case e.Dir:
		d.Dirs++
	default:
		d.Keys++
		if e.TTL != 0 || e.Expiration != nil {
			d.TTLKeys++
		}
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// DumpFile writes the dump to path (through a temporary file, fsynced, then
// renamed, so a crash never leaves a half dump under the final name) and
// verifies it by reading it back.
func DumpFile(ctx context.Context, kapi client.KeysAPI, prefixes []string, path string) (DumpInfo, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return DumpInfo{}, fmt.Errorf("v2 dump: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	info, err := Dump(ctx, kapi, prefixes, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return info, fmt.Errorf("v2 dump to %s: %w", path, err)
	}
	if err := VerifyDump(path, info); err != nil {
		return info, err
	}
	return info, nil
}

// VerifyDump re-reads a dump and checks that every line parses and that its
// counts, size and sha256 are want's.
func VerifyDump(path string, want DumpInfo) error {
	var got DumpInfo
	h := sha256.New()
	err := ReadDump(path, h, func(e Entry) error {
		got.add(e)
		return nil
	})
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("verify v2 dump %s: %w", path, err)
	}
	got.Bytes = st.Size()
	got.SHA256 = hex.EncodeToString(h.Sum(nil))
	if got != want {
		return fmt.Errorf("verify v2 dump %s: holds %+v, want %+v", path, got, want)
	}
	return nil
}

// ReadDump calls fn with every entry of the dump at path, in order; raw, when
// not nil, receives the file's bytes as read (for a hash).
func ReadDump(path string, raw io.Writer, fn func(Entry) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read v2 dump: %w", err)
	}
	defer func() { _ = f.Close() }()
	var r io.Reader = f
	if raw != nil {
		r = io.TeeReader(f, raw)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // a v2 value may be up to the request limit (1.5 MiB by default)
	line := 0
	for sc.Scan() {
		line++
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("read v2 dump %s line %d: %w", path, line, err)
		}
		if e.Key == "" || e.Key[0] != '/' {
			return fmt.Errorf("read v2 dump %s line %d: key %q is not a v2 key", path, line, e.Key)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read v2 dump %s line %d: %w", path, line+1, err)
	}
	if raw != nil { // the scanner stops at EOF; make sure the hash saw every byte
		if _, err := io.Copy(io.Discard, r); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read v2 dump %s: %w", path, err)
		}
	}
	return nil
}
