//go:build unix

package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFileName is held (flock) by the serve using a state directory for as
// long as it runs: a second serve on the same directory (two replicas on
// one volume) would scan twice and, with --remediate, race over the plans.
const LockFileName = "serve.lock"

// lockStateDir takes the state directory's serve lock or says who holds it.
// The kernel drops the lock when its holder dies, even by SIGKILL.
func lockStateDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another etcdaudit serve uses the state dir %s (%s holds %s): run one serve per state dir",
				dir, orStr(strings.TrimSpace(string(holder)), errors.New("holder unknown")), path)
		}
		return nil, fmt.Errorf("state dir lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+" on "+host+"\n"), 0)
	return func() { f.Close() }, nil
}
