package remediate

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdaudit/etcdaudit/inventory"
)

// probe reads one cluster's live state for the steps' pre- and
// postconditions: v3 Status, GET /version and GET /metrics, each read-only
// (never GET /health, which appends a raft entry on 3.4 and on 3.5 with
// --enable-v2, exactly what makes 3.6 panic).
type probe struct {
	conn *inventory.Conn
	cli  *clientv3.Client
	http *http.Client
	// poll is how often wait loops look again.
	poll time.Duration
}

func newProbe(c inventory.Cluster, conn *inventory.Conn) (*probe, error) {
	cfg := conn.ClientConfig(c.Endpoints)
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	return &probe{conn: conn, cli: cli, http: conn.HTTPClient(), poll: 500 * time.Millisecond}, nil
}

func (p *probe) close() { _ = p.cli.Close() }

// memberState is one member as a probe saw it.
type memberState struct {
	Version, Cluster, Storage string
	Leader                    uint64
	ID                        uint64
	Applied                   uint64
	Committed                 uint64 // the member's commit index
	Errors                    []string
	Err                       error
}

func (s memberState) healthy() error {
	switch {
	case s.Err != nil:
		return s.Err
	case s.Leader == 0:
		return fmt.Errorf("no leader")
	case len(s.Errors) > 0:
		return fmt.Errorf("errors: %s", strings.Join(s.Errors, "; "))
	}
	return nil
}

// member reads one member's status and /version.
func (p *probe) member(ctx context.Context, clientURL string) memberState {
	ctx, cancel := context.WithTimeout(ctx, p.conn.CommandTimeout)
	defer cancel()
	var s memberState
	st, err := p.cli.Status(ctx, clientURL)
	if err != nil {
		s.Err = fmt.Errorf("status %s: %w", clientURL, err)
		return s
	}
	s.Version, s.Leader, s.Applied, s.Committed, s.Errors = st.Version, st.Leader, st.RaftAppliedIndex, st.RaftIndex, st.Errors
	if st.Header != nil {
		s.ID = st.Header.MemberId
	}
	if s.Applied == 0 {
		s.Applied = st.RaftIndex // before 3.4
	}
	var v struct {
		Server  string `json:"etcdserver"`
		Cluster string `json:"etcdcluster"`
		Storage string `json:"storage"`
	}
	if err := p.getJSON(ctx, clientURL+"/version", &v); err != nil {
		s.Err = err
		return s
	}
	s.Cluster, s.Storage = v.Cluster, v.Storage
	return s
}

func (p *probe) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// snapCountMetric counts the raft snapshots a member saved since it started
// (etcd's snap package, every version from 3.0 to 3.7).
const snapCountMetric = "etcd_debugging_snap_save_total_duration_seconds_count"

// snapshots reads the member's snapshot save count from GET /metrics.
func (p *probe) snapshots(ctx context.Context, clientURL string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, p.conn.CommandTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s/metrics: %w", clientURL, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 32<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), snapCountMetric+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("GET %s/metrics: %w", clientURL, err)
	}
	return 0, fmt.Errorf("GET %s/metrics: no %s", clientURL, snapCountMetric)
}

// waitFor polls check until it returns nil or the deadline passes; the
// error names the last reason.
func (p *probe) waitFor(ctx context.Context, timeout time.Duration, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("%s: not within %s: %w", what, timeout, last)
			}
			return ctx.Err()
		case <-time.After(p.poll):
		}
	}
}

// leaderApplied returns the leader's applied index, read from any member
// that names it.
func (p *probe) leaderApplied(ctx context.Context, urls map[uint64]string) (uint64, error) {
	for _, u := range urls {
		s := p.member(ctx, u)
		if s.Err != nil || s.Leader == 0 {
			continue
		}
		lu, ok := urls[s.Leader]
		if !ok {
			continue
		}
		ls := p.member(ctx, lu)
		if ls.Err == nil {
			return ls.Applied, nil
		}
	}
	return 0, fmt.Errorf("no member reaches a leader")
}
