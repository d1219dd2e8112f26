//go:build unix

package history

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// gate keeps a stream of readers in other processes from starving a
// writer. flock has no writer preference: bbolt's writer polls for its
// exclusive lock and can lose to readers that reopen the file back to back.
// So a writer first takes history.db.lock exclusively (new readers then wait
// on it) and only then the file itself; readers pass through the gate with
// a shared lock they release at once.
//
// A reader opens the gate file read-only and never creates it (flock needs
// no write access): when it is missing no writer has used this directory
// yet, and when it cannot be opened (a read-only state dir) nobody can
// write there; either way bbolt's own shared flock on the file still keeps
// the reader consistent with any writer.
func (s *Store) gate(exclusive bool) (release func(), err error) {
	flags := os.O_RDWR | os.O_CREATE
	if !exclusive {
		flags = os.O_RDONLY
	}
	f, err := os.OpenFile(s.path+".lock", flags, 0o600)
	if err != nil {
		if !exclusive && (errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission)) {
			return func() {}, nil
		}
		return nil, fmt.Errorf("history lock %s.lock: %w", s.path, err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	deadline := time.Now().Add(s.lockTimeout)
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("history lock %s.lock: %w", s.path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%w: another etcdaudit holds %s (waited %s)", ErrLocked, s.dir, s.lockTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !exclusive {
		f.Close() // through the gate: closing drops the shared lock
		return func() {}, nil
	}
	return func() { f.Close() }, nil
}
