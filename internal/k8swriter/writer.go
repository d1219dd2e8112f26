// Package k8swriter stands in for the Kubernetes API servers in remediation
// tests: it writes objects and events (events with a TTL in v2, with shared
// leases in v3, as the apiserver's --event-ttl does) to the etcd2 or etcd3
// backend at a steady rate, can be stopped, started and switched to the
// other backend (what the stop_writers, start_writers and set_backend hooks
// do to real API servers), and logs every ACKNOWLEDGED write so a test can
// prove that each one is still there or legitimately expired.
package k8swriter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	client "go.etcd.io/etcd/client/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/remediate/leases"
)

// Backend is the apiserver's --storage-backend.
type Backend string

// The two storage backends.
const (
	Etcd2 Backend = "etcd2"
	Etcd3 Backend = "etcd3"
)

// ParseBackend accepts "etcd2" or "etcd3".
func ParseBackend(s string) (Backend, error) {
	switch b := Backend(s); b {
	case Etcd2, Etcd3:
		return b, nil
	}
	return "", fmt.Errorf("storage backend %q: want etcd2 or etcd3", s)
}

// Config configures a Writer. Zero values take the defaults.
type Config struct {
	// V2 writes the etcd2 backend (nil: SetBackend(Etcd2) fails); V3 the
	// etcd3 one (nil: SetBackend(Etcd3) fails).
	V2 client.KeysAPI
	V3 *clientv3.Client
	// Backend to start with (default etcd2).
	Backend Backend
	// Prefix is the apiserver's --etcd-prefix (default "/registry").
	Prefix string
	// Rate is writes per second (default 20).
	Rate float64
	// EventTTL is the apiserver's --event-ttl (default 1 h).
	EventTTL time.Duration
	// LeaseBucketWidth is how far apart events' expiries may be and share
	// a lease (default 1 min, as the apiserver's lease reuse).
	LeaseBucketWidth time.Duration
	// Namespaces and Objects bound the objects updated in turn (defaults 2
	// and 20 per namespace); every other write creates a new event.
	Namespaces, Objects int
	// Log receives one JSON line (Ack) per acknowledged write.
	Log io.Writer
	// Timeout bounds each write (default 5 s).
	Timeout time.Duration
}

// Ack is one acknowledged write, as logged.
type Ack struct {
	Seq     int64     `json:"seq"`
	Key     string    `json:"key"`
	SHA256  string    `json:"sha256"`
	Backend Backend   `json:"backend"`
	Time    time.Time `json:"time"`
	// TTL in seconds for events (a v2 TTL or a v3 lease), 0 for objects.
	TTL int64 `json:"ttl,omitempty"`
}

// Stats counts what a Writer did.
type Stats struct {
	Acked, Failed int64
	Backend       Backend
	Running       bool
}

// Writer writes while running; see Config.
type Writer struct {
	cfg  Config
	pool *leases.Pool

	mu      sync.Mutex // held during a write: Stop waits for the one in flight
	running bool
	backend Backend
	seq     int64
	stats   Stats
	logMu   sync.Mutex
}

// New returns a stopped writer.
func New(cfg Config) (*Writer, error) {
	if cfg.Backend == "" {
		cfg.Backend = Etcd2
	}
	if _, err := ParseBackend(string(cfg.Backend)); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/registry"
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 20
	}
	if cfg.EventTTL <= 0 {
		cfg.EventTTL = time.Hour
	}
	if cfg.EventTTL < time.Second {
		return nil, fmt.Errorf("event ttl %s: want at least 1s", cfg.EventTTL)
	}
	if cfg.Namespaces <= 0 {
		cfg.Namespaces = 2
	}
	if cfg.Objects <= 0 {
		cfg.Objects = 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	w := &Writer{cfg: cfg, backend: cfg.Backend}
	if cfg.V3 != nil {
		// Events share leases like the apiserver's lease manager.
		w.pool = leases.NewPool(cfg.V3, cfg.LeaseBucketWidth, 0)
	}
	return w, w.check(cfg.Backend)
}

func (w *Writer) check(b Backend) error {
	switch {
	case b == Etcd2 && w.cfg.V2 == nil:
		return errors.New("backend etcd2 needs a v2 client")
	case b == Etcd3 && w.cfg.V3 == nil:
		return errors.New("backend etcd3 needs a v3 client")
	}
	return nil
}

// Start resumes writing.
func (w *Writer) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running = true
}

// Stop stops writing; when it returns no write is in flight and none starts
// until Start.
func (w *Writer) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running = false
}

// SetBackend switches the backend for the next writes.
func (w *Writer) SetBackend(b Backend) error {
	if _, err := ParseBackend(string(b)); err != nil {
		return err
	}
	if err := w.check(b); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.backend = b
	return nil
}

// Stats returns the counts so far.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Backend, s.Running = w.backend, w.running
	return s
}

// Run writes at the configured rate while running, until ctx ends. A
// failed write is counted, not retried and not logged: only acknowledged
// writes are promised.
func (w *Writer) Run(ctx context.Context) error {
	t := time.NewTicker(time.Duration(float64(time.Second) / w.cfg.Rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		w.mu.Lock()
		if w.running {
			w.writeLocked(ctx)
		}
		w.mu.Unlock()
	}
}

// writeLocked makes one write: an object update on even sequence numbers,
// a new event on odd ones.
func (w *Writer) writeLocked(ctx context.Context) {
	n := w.seq
	w.seq++
	ns := fmt.Sprintf("ns-%d", n%int64(w.cfg.Namespaces))
	var key, value string
	event := n%2 == 1
	if event {
		key = fmt.Sprintf("%s/events/%s/writer.%x", w.cfg.Prefix, ns, n)
		value = fmt.Sprintf(`{"kind":"Event","apiVersion":"v1","metadata":{"name":"writer.%x","namespace":%q},"reason":"Written","count":%d}`, n, ns, n)
	} else {
		key = fmt.Sprintf("%s/pods/%s/writer-%d", w.cfg.Prefix, ns, (n/2)%int64(w.cfg.Objects))
		value = fmt.Sprintf(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"writer-%d","namespace":%q,"resourceVersion":"%d"},"status":{"phase":"Running"}}`, (n/2)%int64(w.cfg.Objects), ns, n)
	}
	wctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	var err error
	var ttl int64
	switch w.backend {
	case Etcd2:
		opts := &client.SetOptions{}
		if event {
			opts.TTL = w.cfg.EventTTL
			ttl = int64(w.cfg.EventTTL / time.Second)
		}
		_, err = w.cfg.V2.Set(wctx, key, value, opts)
	case Etcd3:
		var ops []clientv3.OpOption
		if event {
			id, lerr := w.pool.Lease(wctx, w.cfg.EventTTL)
			if lerr != nil {
				err = lerr
				break
			}
			ops = append(ops, clientv3.WithLease(id))
			ttl = int64(w.cfg.EventTTL / time.Second)
		}
		value = "k8s\x00" + value // the apiserver's etcd3 envelope
		_, err = w.cfg.V3.Put(wctx, key, value, ops...)
	}
	if err != nil {
		w.stats.Failed++
		return
	}
	w.stats.Acked++
	sum := sha256.Sum256([]byte(value))
	line, _ := json.Marshal(Ack{Seq: n, Key: key, SHA256: hex.EncodeToString(sum[:]), Backend: w.backend, Time: time.Now().UTC(), TTL: ttl})
	w.logMu.Lock()
	_, _ = w.cfg.Log.Write(append(line, '\n'))
	w.logMu.Unlock()
}
