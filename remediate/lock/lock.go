// Package lock keeps two remediators off one cluster. With a coordination
// etcd (--lock-endpoints) it is a client/v3/concurrency Mutex on a session
// lease: a holder that dies (even by SIGKILL) loses the lock when its lease
// expires, TTL after its last keep-alive. Without one it is a flock on a file
// in the state directory, which the kernel releases when the holder dies.
// Either way the second acquirer fails at once with an error naming the
// holder: host, pid, holder (the run id), since when.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultTTL is the coordination lease's TTL: how long a dead holder keeps
// the lock.
const DefaultTTL = 15 * time.Second

// DefaultPrefix is where the locks live in the coordination etcd.
const DefaultPrefix = "/etcdaudit/remediation/"

// ErrHeld is wrapped by the error Acquire returns when another remediator
// holds the lock; errors.As gives the *HeldError with the holder.
var ErrHeld = errors.New("remediation lock held")

// Options say which lock to take and how.
type Options struct {
	Cluster string // the cluster being remediated
	Holder  string // who takes it, e.g. the run id
	// StateDir holds the lock file when Etcd is nil.
	StateDir string
	// Etcd is a client to the coordination etcd (not the cluster being
	// remediated: its members restart during a run); nil for a file lock.
	Etcd *clientv3.Client
	// TTL of the coordination lease (DefaultTTL when zero; whole seconds,
	// at least 2).
	TTL time.Duration
	// Prefix of the lock keys (DefaultPrefix when empty).
	Prefix string
}

// Info describes a holder; it is stored with the lock.
type Info struct {
	Cluster string    `json:"cluster"`
	Holder  string    `json:"holder"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Since   time.Time `json:"since"`
}

func (i Info) String() string {
	if i.PID == 0 {
		return "an unknown holder (it has not written its details yet)"
	}
	return fmt.Sprintf("%s (host %s, pid %d, since %s)", i.Holder, i.Host, i.PID, i.Since.Format(time.RFC3339))
}

// HeldError is returned when the lock is held by someone else.
type HeldError struct {
	Cluster string
	Holder  Info
	Where   string        // the lock file or key
	Expires time.Duration // remaining lease TTL (coordination etcd only; 0 if unknown)
}

func (e *HeldError) Error() string {
	msg := fmt.Sprintf("cluster %s is being remediated by %s (lock %s)", e.Cluster, e.Holder, e.Where)
	if e.Expires > 0 {
		msg += fmt.Sprintf("; if that holder is dead its lease expires within %s", e.Expires.Round(time.Second))
	}
	return msg
}

func (e *HeldError) Unwrap() error { return ErrHeld }

// Lock is a held lock.
type Lock struct {
	info    Info
	release func(context.Context) error
	lost    <-chan struct{}
}

// Info returns what the lock records about its holder.
func (l *Lock) Info() Info { return l.info }

// Lost is closed when a coordination lock is lost (its lease expired or was
// revoked, e.g. the coordination etcd was unreachable for a TTL): the
// remediator must stop before its next step. A file lock is never lost.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Release gives the lock up. It is safe to call more than once.
func (l *Lock) Release(ctx context.Context) error {
	if l.release == nil {
		return nil
	}
	r := l.release
	l.release = nil
	return r(ctx)
}

var clusterNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Acquire takes the cluster's lock or fails at once: a *HeldError (wrapping
// ErrHeld) when another remediator has it, another error when the lock
// cannot be checked at all.
func Acquire(ctx context.Context, o Options) (*Lock, error) {
	if !clusterNameRe.MatchString(o.Cluster) {
		return nil, fmt.Errorf("lock: %q is not a cluster name", o.Cluster)
	}
	host, _ := os.Hostname()
	info := Info{Cluster: o.Cluster, Holder: o.Holder, Host: host, PID: os.Getpid(), Since: time.Now().UTC().Truncate(time.Second)}
	if o.Etcd != nil {
		return acquireEtcd(ctx, o, info)
	}
	if o.StateDir == "" {
		return nil, errors.New("lock: neither a state directory nor a coordination etcd given")
	}
	return acquireFile(o, info)
}
