package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/remediate/v2data"
)

// dumpData is what the journal keeps of a v2-dump step: the top-level v2
// directories the data actions work on, and the verified dump.
type dumpData struct {
	Prefixes []string        `json:"prefixes"`
	Path     string          `json:"path"`
	Info     v2data.DumpInfo `json:"info"`
}

// copyData is what the journal keeps of a v2-copy step; Report.Written is
// what a rollback deletes (by exact key and mod revision).
type copyData struct {
	Report v2data.CopyReport   `json:"report"`
	Verify v2data.VerifyReport `json:"verify"`
	// Stopped is the dump taken once the writers had stopped, right before
	// the copy: the v2 store as the cleanup will find it. A rollback of the
	// cleanup re-imports it rather than the dump step's, which misses what
	// the writers wrote between that dump and their stop.
	Stopped *dumpData `json:"stopped_dump,omitempty"`
}

// stoppedDumpPath is where the copy step writes its dump, beside the dump
// step's.
func stoppedDumpPath(p string) string {
	ext := filepath.Ext(p)
	return strings.TrimSuffix(p, ext) + "-writers-stopped" + ext
}

// kapi is a v2 keys client over the cluster's leader, once the leader has
// applied every entry it had committed when kapi was called. v2 reads are
// never quorum reads here (see v2data), so a member answers from what it
// has applied; a write a client saw acknowledged is committed, hence at or
// below the leader's commit index, and after this wait in the leader's
// store. Reads from a follower could miss the last writes before the
// writers stopped. Call done when the step ends: an idle keep-alive
// connection left open would hold a member's graceful shutdown (the next
// stop_member) until it times out.
func (cr *clusterRun) kapi(ctx context.Context) (k client.KeysAPI, done func(), err error) {
	var leader string
	err = cr.pr.waitFor(ctx, cr.memberTimeout(), "the leader applying what it has committed", func(ctx context.Context) error {
		lu, err := cr.leaderURL(ctx)
		if err != nil {
			return err
		}
		st := cr.pr.member(ctx, lu)
		if err := st.healthy(); err != nil {
			return err
		}
		if st.ID != 0 && st.Leader != st.ID {
			return fmt.Errorf("%s is no longer the leader", lu)
		}
		target := st.Committed
		for st.Applied < target {
			if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
				return fmt.Errorf("leader %s applied index %d below the commit index %d", lu, st.Applied, target)
			}
			if st = cr.pr.member(ctx, lu); st.Err != nil {
				return st.Err
			}
		}
		leader = lu
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	tr, _ := cr.pr.http.Transport.(*http.Transport)
	if tr != nil {
		tr = tr.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	var user, password string
	if cr.v2AuthOn(ctx, leader) {
		user, password = cr.pr.conn.Credentials()
	}
	k, err = v2data.NewKeysAPIAs([]string{leader}, tr, cr.pr.conn.CommandTimeout, user, password)
	return k, tr.CloseIdleConnections, err
}

// v2AuthOn: the member's v2 API refuses an anonymous read (v2 auth on, the
// guest role revoked), so the v2 client must send the cluster's user and
// password. A cluster without v2 auth never gets the password on its v2
// port (as the collectors do).
func (cr *clusterRun) v2AuthOn(ctx context.Context, u string) bool {
	if user, _ := cr.pr.conn.Credentials(); user == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, cr.pr.conn.CommandTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(u, "/")+"/v2/keys/?quorum=false", nil)
	if err != nil {
		return false
	}
	resp, err := cr.pr.http.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusUnauthorized
}

// leaderURL is the client URL of the member any reachable member names as
// its leader.
func (cr *clusterRun) leaderURL(ctx context.Context) (string, error) {
	urls := make([]string, 0, len(cr.urls))
	for _, u := range cr.urls {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	for _, u := range urls {
		st := cr.pr.member(ctx, u)
		if st.Err != nil || st.Leader == 0 {
			continue
		}
		if lu, ok := cr.urls[st.Leader]; ok {
			return lu, nil
		}
	}
	return "", fmt.Errorf("no member reaches a leader")
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// v2Prefixes lists the v2 store's top-level nodes (not quorum reads: on 3.4
// and 3.5 those append v2 entries to the log, which 3.6 panics on).
func v2Prefixes(ctx context.Context, kapi client.KeysAPI) ([]string, error) {
	resp, err := kapi.Get(ctx, "/", &client.GetOptions{Sort: true})
	if err != nil {
		return nil, fmt.Errorf("list v2 /: %w", err)
	}
	var out []string
	for _, n := range resp.Node.Nodes {
		out = append(out, n.Key)
	}
	return out, nil
}

func (cr *clusterRun) v2Dump(ctx context.Context, s *Step, rec *journal.StepRecord) error {
	if err := cr.allHealthy(ctx); err != nil {
		return err
	}
	kapi, done, err := cr.kapi(ctx)
	if err != nil {
		return err
	}
	defer done()
	prefixes, err := v2Prefixes(ctx, kapi)
	if err != nil {
		return err
	}
	if len(prefixes) == 0 {
		return fmt.Errorf("the v2 store holds no custom data any more: make a new plan")
	}
	conflicts, err := v2data.Conflicts(ctx, cr.pr.cli, prefixes, 20)
	if err != nil {
		return err
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("%w: %s (nothing was copied; move them away or migrate by hand)", v2data.ErrConflict, strings.Join(conflicts, ", "))
	}
	if err := os.MkdirAll(filepath.Dir(s.Backup), 0o700); err != nil {
		return fmt.Errorf("v2 dump: %w", err)
	}
	info, err := v2data.DumpFile(ctx, kapi, prefixes, s.Backup)
	if err != nil {
		return err
	}
	if err := v2data.VerifyDump(s.Backup, info); err != nil {
		return err
	}
	rec.Data = mustJSON(dumpData{Prefixes: prefixes, Path: s.Backup, Info: info})
	rec.Note = fmt.Sprintf("v2 dump %s: %d keys (%d with a TTL), %d dirs, sha256 %s; prefixes %s", s.Backup, info.Keys, info.TTLKeys, info.Dirs, info.SHA256, strings.Join(prefixes, " "))
	return nil
}

// dumpOf reads the v2-dump record of the data steps s belongs to.
func (cr *clusterRun) dumpOf(s *Step) (dumpData, error) {
	var d dumpData
	b, key, err := cr.doneData(s, "dump")
	if err != nil {
		return d, err
	}
	if b == nil {
		return d, fmt.Errorf("no verified v2 dump in the journal (step %s)", key)
	}
	if err := json.Unmarshal(b, &d); err != nil || len(d.Prefixes) == 0 {
		return dumpData{}, fmt.Errorf("journal record %s holds no prefixes", key)
	}
	return d, nil
}

// copyOf reads the v2-copy record of the data steps s belongs to.
func (cr *clusterRun) copyOf(s *Step) (copyData, error) {
	var d copyData
	b, key, err := cr.doneData(s, "copy")
	if err != nil {
		return d, err
	}
	if b == nil {
		return d, fmt.Errorf("no verified v2 copy in the journal (step %s)", key)
	}
	if err := json.Unmarshal(b, &d); err != nil || (d.Report.Keys > 0 && d.Report.Written == nil) {
		return copyData{}, fmt.Errorf("journal record %s holds no list of the keys copied", key)
	}
	return d, nil
}

// doneData returns the journaled data of the done step named name among
// the data steps s belongs to, nil when there is none, and its key.
func (cr *clusterRun) doneData(s *Step, name string) ([]byte, string, error) {
	base := s.ID[:strings.LastIndex(s.ID, "/")]
	key := cr.c.Name + "/" + base + "/" + name
	recs, err := cr.j.Steps(cr.run.ID)
	if err != nil {
		return nil, key, err
	}
	for _, r := range recs {
		if r.Key == key && r.Status == journal.StepDone {
			return r.Data, key, nil
		}
	}
	return nil, key, nil
}

func (cr *clusterRun) v2Copy(ctx context.Context, s *Step, rec *journal.StepRecord) error {
	d, err := cr.dumpOf(s)
	if err != nil {
		return err
	}
	if err := v2data.VerifyDump(d.Path, d.Info); err != nil {
		return err
	}
	if err := cr.pr.waitFor(ctx, cr.memberTimeout(), "every member's applied index at the leader's", func(ctx context.Context) error {
		for _, u := range cr.urls {
			if err := cr.caughtUp(ctx, u); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	kapi, done, err := cr.kapi(ctx)
	if err != nil {
		return err
	}
	defer done()
	// Resume: the conflict check of the dump step found v3 empty under the
	// prefixes, so an identical key there is this copy's own (an earlier,
	// interrupted attempt); a different one is still a conflict.
	// The copy writes only v3 and the writers are stopped, so a resumed
	// copy dumps the same v2 store again.
	stopped := dumpData{Prefixes: d.Prefixes, Path: stoppedDumpPath(d.Path)}
	if stopped.Info, err = v2data.DumpFile(ctx, kapi, d.Prefixes, stopped.Path); err != nil {
		return err
	}
	if err := v2data.VerifyDump(stopped.Path, stopped.Info); err != nil {
		return err
	}
	rep, err := v2data.Copy(ctx, kapi, cr.pr.cli, d.Prefixes, v2data.CopyOptions{Resume: true, Timeout: cr.pr.conn.CommandTimeout, Logger: cr.e.logger()})
	data := copyData{Report: rep, Stopped: &stopped}
	rec.Data = mustJSON(data)
	if err != nil {
		return err
	}
	if len(rep.Conflicts) > 0 {
		return fmt.Errorf("%w: %s", v2data.ErrConflict, strings.Join(rep.Conflicts, ", "))
	}
	vr, err := v2data.VerifyCopy(ctx, kapi, cr.pr.cli, d.Prefixes, rep.Written)
	data.Verify = vr
	rec.Data = mustJSON(data)
	if err != nil {
		return err
	}
	if !vr.OK() {
		return fmt.Errorf("copy verification: %d missing %v, %d mismatched %v, %d without a lease %v", vr.Missing.Count, vr.Missing.Keys, vr.Mismatched.Count, vr.Mismatched.Keys, vr.Unleased.Count, vr.Unleased.Keys)
	}
	rec.Note = fmt.Sprintf("%d v2 keys: %d copied, %d already copied, %d leased; verified %d, %d expired", rep.Keys, rep.Copied, rep.AlreadyCopied, rep.Leased, vr.Matched, vr.Expired.Count)
	return nil
}

func (cr *clusterRun) v2Cleanup(ctx context.Context, s *Step, rec *journal.StepRecord) error {
	d, err := cr.dumpOf(s)
	if err != nil {
		return err
	}
	kapi, done, err := cr.kapi(ctx)
	if err != nil {
		return err
	}
	defer done()
	c, err := cr.copyOf(s)
	if err != nil {
		return err
	}
	rep, err := v2data.Cleanup(ctx, kapi, cr.pr.cli, d.Prefixes, c.Report.Written)
	rec.Data = mustJSON(rep)
	if err != nil {
		return err
	}
	if err := v2data.NoTTLKeys(ctx, kapi); err != nil {
		return err
	}
	rec.Note = fmt.Sprintf("deleted %d v2 keys and %d directories; no v2 TTL key left", rep.Deleted, rep.DeletedDirs)
	return nil
}
