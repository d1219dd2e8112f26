package etcdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// WaitReady polls Maintenance.Status on this member until it reports a
// leader, the process exits (error with its log tail) or ctx ends.
func (m *Member) WaitReady(ctx context.Context) error {
	cfg, err := m.c.clientConfig(m.ClientURL)
	if err != nil {
		return err
	}
	// With auth on, dialling logs in, and login is a raft request that waits
	// for a leader: a short first dial timeout retries soon after the
	// election instead of sitting out a long one; it grows under load.
	cfg.DialTimeout = 300 * time.Millisecond
	cfg.Logger = zap.NewNop()
	var cli *clientv3.Client
	defer func() {
		if cli != nil {
			_ = cli.Close()
		}
	}()
	var last error
	for {
		if err := m.exited(); err != nil {
			return err
		}
		if cli == nil {
			c, err := clientv3.New(cfg)
			if err != nil {
				last = err
				cfg.DialTimeout = min(2*cfg.DialTimeout, 4*time.Second)
			} else {
				cli = c
			}
		}
		if cli != nil {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := cli.Status(sctx, m.ClientURL)
			cancel()
			if err == nil && st.Leader != 0 {
				return nil
			}
			if err == nil {
				err = errors.New("no leader yet")
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s (etcd %s) not ready: %w (last: %v)\n%s", m.Name, m.FullVersion(), ctx.Err(), last, m.tailBlock())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// exited returns an error with the exit status and log tail if the member's
// process has ended, nil while it runs.
func (m *Member) exited() error {
	m.mu.Lock()
	p, emb := m.proc, m.emb
	m.mu.Unlock()
	if emb != nil {
		select {
		case err := <-emb.Err():
			return fmt.Errorf("%s (embed) failed: %w\n%s", m.Name, err, m.tailBlock())
		default:
			return nil
		}
	}
	if p == nil {
		return fmt.Errorf("%s is not running", m.Name)
	}
	select {
	case <-p.done:
		err := fmt.Errorf("%s (etcd %s) exited: %s\n%s", m.Name, m.FullVersion(), p.exitError(), m.tailBlock())
		if strings.Contains(m.LogTail(20), "address already in use") {
			err = fmt.Errorf("%w: %w", errPortClash, err)
		}
		return err
	default:
		return nil
	}
}

// tailBlock is what a start error shows of the log: the error, panic and
// fatal lines of the latest run (a Go panic's stack trace pushes the message
// out of any short tail), then the last lines.
func (m *Member) tailBlock() string {
	b, err := os.ReadFile(m.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log %s: %v)", m.LogFile, err)
	}
	if i := bytes.LastIndex(b, []byte(startMarker)); i >= 0 {
		b = b[i:]
	}
	var important []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "panic: ") || strings.Contains(l, `"level":"panic"`) ||
			strings.Contains(l, `"level":"fatal"`) || strings.Contains(l, `"level":"error"`) {
			if i := strings.Index(l, `,"stacktrace":`); i >= 0 {
				l = l[:i] + "}"
			}
			important = append(important, l)
		}
	}
	if len(important) > 8 {
		important = important[len(important)-8:]
	}
	out := "--- " + m.LogFile + " ---\n"
	if len(important) > 0 {
		out += "errors:\n" + strings.Join(important, "\n") + "\nlast lines:\n"
	}
	return out + m.LogTail(15)
}

// startMarker opens each run's section of a process member's log.
const startMarker = "=== etcdtest: "

// LogTail returns the last n lines of the member's log file.
func (m *Member) LogTail(n int) string {
	b, err := os.ReadFile(m.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
