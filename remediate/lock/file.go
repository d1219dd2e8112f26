package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// FileName returns the lock file of a cluster inside the state directory.
func FileName(cluster string) string { return "remediation-" + cluster + ".lock" }

// acquireFile takes an exclusive flock on the cluster's lock file and writes
// the holder's details into it. The kernel drops the flock when the process
// dies, however it dies; the stale details left in the file are then
// overwritten by the next holder.
func acquireFile(o Options, info Info) (*Lock, error) {
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("lock: state directory: %w", err)
	}
	path := filepath.Join(o.StateDir, FileName(o.Cluster))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer func() { _ = f.Close() }()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			held := &HeldError{Cluster: o.Cluster, Where: path}
			if b, rerr := io.ReadAll(io.LimitReader(f, 4096)); rerr == nil {
				_ = json.Unmarshal(b, &held.Holder) // partial or empty: an unknown holder
			}
			return nil, held
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	b, _ := json.Marshal(info)
	if err := writeAll(f, b); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: record the holder: %w", path, err)
	}
	release := func(context.Context) error {
		// Empty the file first, so nobody reads a released holder's details.
		_ = f.Truncate(0)
		return f.Close() // closing the descriptor drops the flock
	}
	return &Lock{info: info, release: release, lost: make(chan struct{})}, nil
}

func writeAll(f *os.File, b []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	return f.Sync()
}
