package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Discovery is what a cluster's member list says and which members answer.
// It is a value, not an error: a cluster with members down is exactly what an
// audit must report, so Discover always returns one.
type Discovery struct {
	Cluster string `json:"cluster"`
	// Source is the endpoint whose member list is used.
	Source    string   `json:"source,omitempty"`
	ClusterID string   `json:"cluster_id,omitempty"` // hex, as etcdctl prints it
	Members   []Member `json:"members"`
	// Endpoints holds, per inventory endpoint, why the member list could not
	// be read there (empty Reason for the one that answered).
	Endpoints []URLProblem `json:"endpoints,omitempty"`
	// Error is set when no endpoint returned a member list.
	Error string `json:"error,omitempty"`
	// Note explains a likely cause when the picture is surprising (the
	// member list came through a proxy whose members cannot be reached).
	Note     string        `json:"note,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Member is one entry of the member list and what probing it found.
type Member struct {
	ID         uint64   `json:"-"`
	IDHex      string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls"`
	IsLearner  bool     `json:"is_learner"`
	// Started is false for a member added to the list that never joined: it
	// has no name and no client URLs yet.
	Started   bool `json:"started"`
	Reachable bool `json:"reachable"`
	// Endpoint is the client URL that answered Status.
	Endpoint string `json:"endpoint,omitempty"`
	// Reason says in plain words why the member is not reachable.
	Reason string `json:"reason,omitempty"`
	// Problems holds the failure of each client URL that did not answer.
	Problems       []URLProblem `json:"problems,omitempty"`
	Version        string       `json:"version,omitempty"`         // server binary version
	ClusterVersion string       `json:"cluster_version,omitempty"` // from /version when served
	IsLeader       bool         `json:"is_leader"`
	// LeaderID is the leader this member follows, "" when it knows none
	// (no quorum, or an election in progress).
	LeaderID string `json:"leader_id,omitempty"`
	// Answers are the member's own gRPC answers as discovery read them on
	// Endpoint, so a caller that asks the same questions moments later
	// (the collectors) can use them instead of asking again.
	Answers Answers `json:"-"`
}

// Answers are a member's gRPC answers to discovery, with when each arrived.
type Answers struct {
	Status       *etcdserverpb.StatusResponse
	StatusAt     time.Time
	MemberList   *etcdserverpb.MemberListResponse // nil unless this member was asked for the list
	MemberListAt time.Time
}

// URLProblem is one URL's failure, in plain words.
type URLProblem struct {
	URL    string `json:"url"`
	Reason string `json:"reason,omitempty"`
}

// OK reports whether a member list was read.
func (d Discovery) OK() bool { return d.Error == "" }

// Reachable counts the members that answered.
func (d Discovery) Reachable() int {
	n := 0
	for _, m := range d.Members {
		if m.Reachable {
			n++
		}
	}
	return n
}

// Discover reads the member list from the first inventory endpoint that
// answers and probes every member on each of its client URLs. All endpoints
// are asked at once so a hung first endpoint costs nothing when another
// answers; every call carries conn.CommandTimeout. Only read-only calls are
// made (GET /version, MemberList serializable, Status); with password auth,
// one Authenticate per discovery is unavoidable (etcd appends it to the raft
// log), and the Conn's token is shared by every call (auth.go). Every
// connection it opens is closed before it returns; DiscoverWithClients hands
// them over instead.
func Discover(ctx context.Context, c Cluster, conn *Conn) Discovery {
	d, clients := DiscoverWithClients(ctx, c, conn)
	clients.Close()
	if conn != nil {
		conn.HTTPClient().CloseIdleConnections()
	}
	return d
}

// DiscoverWithClients is Discover that keeps the gRPC clients it opened, one
// per URL, so a caller that goes on to talk to the members (the collectors)
// reuses the connections discovery already made instead of dialling each
// member again. The caller must Close the returned Clients.
func DiscoverWithClients(ctx context.Context, c Cluster, conn *Conn) (Discovery, *Clients) {
	start := time.Now()
	d := Discovery{Cluster: c.Name, Members: []Member{}}
	clients := &Clients{byURL: map[string]*clientv3.Client{}}
	if conn == nil {
		d.Error = "no connection options (Connect failed?)"
		return d, clients
	}
	if len(c.Endpoints) == 0 {
		d.Error = "no endpoints"
		return d, clients
	}
	if conn.CommandTimeout <= 0 || conn.DialTimeout <= 0 { // a Conn not made by Connect
		fixed := *conn
		fixed.CommandTimeout = orDefault(conn.CommandTimeout, DefaultCommandTimeout)
		fixed.DialTimeout = orDefault(conn.DialTimeout, DefaultDialTimeout)
		conn = &fixed
	}
	s := &session{conn: conn, clients: clients, versions: map[string]versionInfo{}, lists: map[string]listAnswer{}, named: map[string]bool{}}
	for _, ep := range c.Endpoints {
		s.named[urlKey(ep)] = true
	}
	if list := s.listMembers(ctx, c.Endpoints, &d); list != nil {
		d.Members = s.probeMembers(ctx, list)
		d.Note = proxyNote(d)
	}
	d.Duration = time.Since(start)
	return d, clients
}

// Clients are the gRPC clients a discovery opened, by URL. Each is connected
// to one URL only and carries the Conn's credentials.
type Clients struct {
	mu    sync.Mutex
	byURL map[string]*clientv3.Client
}

// Take hands over the client discovery opened for url (the caller now owns
// it and must Close it), or nil when there is none.
func (cs *Clients) Take(url string) *clientv3.Client {
	if cs == nil {
		return nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cli := cs.byURL[url]
	delete(cs.byURL, url)
	return cli
}

// Close closes every client not taken.
func (cs *Clients) Close() {
	if cs == nil {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for u, cli := range cs.byURL {
		cli.Close()
		delete(cs.byURL, u)
	}
}

// session is one discovery: the connections and /version answers it has,
// so a URL that is both an inventory endpoint and a member's client URL (the
// usual case) is dialled and asked GET /version once, not twice.
type session struct {
	conn    *Conn
	clients *Clients
	named   map[string]bool // the inventory's endpoints, by urlKey

	mu       sync.Mutex
	versions map[string]versionInfo // successful GET /version answers
	lists    map[string]listAnswer  // successful MemberList answers
}

type listAnswer struct {
	resp *etcdserverpb.MemberListResponse
	at   time.Time
}

// version is GET /version on u, asked once per discovery.
func (s *session) version(ctx context.Context, u string) (versionInfo, error) {
	s.mu.Lock()
	v, ok := s.versions[u]
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := probeVersion(ctx, u, s.conn)
	if err == nil {
		s.mu.Lock()
		s.versions[u] = v
		s.mu.Unlock()
	}
	return v, err
}

// client returns the session's client for u, dialling it on first use.
func (s *session) client(ctx context.Context, u string) (*clientv3.Client, error) {
	cs := s.clients
	cs.mu.Lock()
	cli := cs.byURL[u]
	cs.mu.Unlock()
	if cli != nil {
		return cli, nil
	}
	cli, err := newClient(ctx, u, s.conn)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if other := cs.byURL[u]; other != nil { // dialled at the same time
		cli.Close()
		return other, nil
	}
	cs.byURL[u] = cli
	return cli, nil
}

// drop closes the session's client for u after a failed call, so nothing
// reuses a connection that did not answer.
func (s *session) drop(u string, cli *clientv3.Client) {
	cs := s.clients
	cs.mu.Lock()
	if cs.byURL[u] == cli {
		delete(cs.byURL, u)
		cli.Close()
	}
	cs.mu.Unlock()
}

type listResult struct {
	endpoint string
	resp     *etcdserverpb.MemberListResponse
	err      error
}

// listMembers asks every endpoint at once and keeps the first answer.
func (s *session) listMembers(ctx context.Context, endpoints []string, d *Discovery) *etcdserverpb.MemberListResponse {
	conn := s.conn
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan listResult, len(endpoints))
	for _, ep := range endpoints {
		go func() { results <- s.listOne(ctx, ep) }()
	}
	problems := map[string]string{}
	var won *listResult
	for range endpoints {
		r := <-results
		switch {
		case r.err == nil && won == nil:
			won = &r
			cancel() // the others are not needed any more
		case r.err == nil:
		case won != nil && errors.Is(r.err, context.Canceled):
			problems[r.endpoint] = "not needed: another endpoint answered first"
		default:
			problems[r.endpoint] = plainReason(r.err, conn.CommandTimeout)
		}
	}
	for _, ep := range endpoints {
		d.Endpoints = append(d.Endpoints, URLProblem{URL: ep, Reason: problems[ep]})
	}
	if won == nil {
		var why []string
		for _, ep := range endpoints {
			why = append(why, ep+": "+problems[ep])
		}
		d.Error = "no endpoint returned the member list: " + strings.Join(why, "; ")
		return nil
	}
	d.Source = won.endpoint
	d.ClusterID = hexID(won.resp.GetHeader().GetClusterId())
	return won.resp
}

func (s *session) listOne(ctx context.Context, ep string) listResult {
	r := listResult{endpoint: ep}
	callCtx, cancel := context.WithTimeout(ctx, s.conn.CommandTimeout)
	defer cancel()
	if _, err := s.version(callCtx, ep); err != nil {
		r.err = err
		return r
	}
	cli, err := s.client(callCtx, ep)
	if err != nil {
		r.err = err
		return r
	}
	// Serializable: a cluster without quorum still answers, which is when
	// the operator most needs to see the members.
	r.resp, r.err = etcdserverpb.NewClusterClient(cli.ActiveConnection()).MemberList(callCtx, &etcdserverpb.MemberListRequest{Linearizable: false})
	r.err = contextError(callCtx, r.err)
	if r.err == nil {
		s.mu.Lock()
		s.lists[ep] = listAnswer{resp: r.resp, at: time.Now()}
		s.mu.Unlock()
	}
	// A call cut short because another endpoint answered first leaves a
	// good connection; one that failed on its own is not reused.
	if r.err != nil && !(ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled)) {
		s.drop(ep, cli)
	}
	return r
}

// newClient is a client for one endpoint, sharing the Conn's auth token.
// It outlives ctx (it may be handed over to the collectors, and Close is the
// only way to end it, as ClientConfig says), but ctx ending while it is
// made (clientv3 authenticates there when the Conn was not made by Connect)
// abandons it.
func newClient(ctx context.Context, ep string, conn *Conn) (*clientv3.Client, error) {
	cfg := conn.ClientConfig([]string{ep})
	clientCtx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	cfg.Context = clientCtx
	cli, err := clientv3.New(cfg)
	if !stop() {
		if err == nil {
			cli.Close()
		}
		return nil, fmt.Errorf("client for %s: %w", ep, ctx.Err())
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("client for %s: %w", ep, err)
	}
	return cli, nil
}

// maxProbes bounds the probes in flight per cluster: etcd clusters have a
// handful of members, but a member list is input like any other.
const maxProbes = 16

func (s *session) probeMembers(ctx context.Context, list *etcdserverpb.MemberListResponse) []Member {
	members := make([]Member, len(list.Members))
	sem := make(chan struct{}, maxProbes)
	var wg sync.WaitGroup
	for i, pm := range list.Members {
		m := Member{
			ID: pm.ID, IDHex: hexID(pm.ID), Name: pm.Name,
			PeerURLs: nonNil(pm.PeerURLs), ClientURLs: nonNil(pm.ClientURLs),
			IsLearner: pm.IsLearner, Started: pm.Name != "" || len(pm.ClientURLs) > 0,
		}
		members[i] = m
		if len(m.ClientURLs) == 0 {
			members[i].Reason = "not started: no client URLs yet (added to the member list, never joined)"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.probeMember(ctx, &members[i], sem)
		}()
	}
	wg.Wait()
	slices.SortStableFunc(members, func(a, b Member) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.IDHex, b.IDHex)
	})
	return members
}

type probeResult struct {
	url      string
	version  versionInfo
	status   *etcdserverpb.StatusResponse
	statusAt time.Time
	err      error
}

// probeMember tries every client URL of a member at once; the first URL in
// the member's order that answered is the member's endpoint.
func (s *session) probeMember(ctx context.Context, m *Member, sem chan struct{}) {
	conn := s.conn
	results := make([]probeResult, len(m.ClientURLs))
	var wg sync.WaitGroup
	for i, u := range m.ClientURLs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
				results[i] = s.probeURL(ctx, u, m.ID)
			case <-ctx.Done():
				results[i] = probeResult{url: u, err: ctx.Err()}
			}
		}()
	}
	wg.Wait()
	var why []string
	for _, r := range results {
		if r.err != nil {
			reason := plainReason(r.err, conn.CommandTimeout)
			m.Problems = append(m.Problems, URLProblem{URL: r.url, Reason: reason})
			if len(results) > 1 {
				reason = r.url + ": " + reason
			}
			why = append(why, reason)
			continue
		}
		if m.Reachable {
			continue
		}
		m.Reachable, m.Endpoint = true, r.url
		m.Version = r.status.Version
		if m.Version == "" {
			m.Version = r.version.Server
		}
		m.ClusterVersion = r.version.Cluster
		m.IsLeader = r.status.Leader != 0 && r.status.Leader == r.status.Header.GetMemberId()
		m.LeaderID = hexID(r.status.Leader)
		m.IsLearner = m.IsLearner || r.status.IsLearner
		m.Answers = Answers{Status: r.status, StatusAt: r.statusAt}
		s.mu.Lock()
		// The list this URL gave, when it came from this very member.
		if l := s.lists[r.url]; l.resp != nil && m.ID != 0 && l.resp.GetHeader().GetMemberId() == m.ID {
			m.Answers.MemberList, m.Answers.MemberListAt = l.resp, l.at
		}
		s.mu.Unlock()
	}
	if !m.Reachable {
		m.Reason = strings.Join(why, "; ")
	}
}

// probeURL asks one client URL for /version and Status. Status goes over the
// URL's one connection (clientv3's Maintenance.Status would dial another).
func (s *session) probeURL(ctx context.Context, u string, id uint64) probeResult {
	r := probeResult{url: u}
	if s.cleartextCredentials(u) {
		r.err = errCleartext
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, s.conn.CommandTimeout)
	defer cancel()
	r.version, r.err = s.version(ctx, u)
	if r.err != nil {
		return r
	}
	cli, err := s.client(ctx, u)
	if err != nil {
		r.err = err
		return r
	}
	st, err := etcdserverpb.NewMaintenanceClient(cli.ActiveConnection()).Status(ctx, &etcdserverpb.StatusRequest{})
	if err != nil {
		s.drop(u, cli)
		r.err = contextError(ctx, err)
		return r
	}
	if got := st.Header.GetMemberId(); got != 0 && id != 0 && got != id {
		r.err = fmt.Errorf("answered as member %s, not %s: client URL points at another member", hexID(got), hexID(id))
		return r
	}
	r.status, r.statusAt = st, time.Now()
	return r
}

// errCleartext is why a member's client URL was not probed: see
// cleartextCredentials.
var errCleartext = errors.New("not probed: a plain http:// URL the inventory does not list, and this cluster uses auth; " +
	"credentials are never sent in clear text to an address only a member advertised (list it in the cluster's endpoints to allow it)")

// cleartextCredentials says whether probing u would send the Conn's
// credentials unencrypted to an address the operator never named. Every
// client carries the auth token (and, when a token goes stale, logs in again
// with the password on the URL that rejected it), so a member advertising
// http://somewhere — by mistake, or a hostile member list — would otherwise
// receive them. https URLs are verified against the cluster's CA; the
// inventory's own endpoints are the operator's choice.
func (s *session) cleartextCredentials(u string) bool {
	if s.conn.User == "" || s.named[urlKey(u)] {
		return false
	}
	p, err := url.Parse(u)
	return err != nil || !strings.EqualFold(p.Scheme, "https")
}

// urlKey is a client URL compared by scheme, host and port.
func urlKey(u string) string {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil {
		return u
	}
	return strings.ToLower(p.Scheme) + "://" + strings.ToLower(p.Host)
}

// contextError is what a gRPC call failed of when its context ended first:
// the context's own error, which says "timed out" or "canceled" plainly
// (as clientv3's helpers do), instead of gRPC's status.
func contextError(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// versionInfo is etcd's GET /version answer.
type versionInfo struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
}

// probeVersion is the cheap first contact: plain HTTP(S), read-only on every
// version, and its transport errors (refused, TLS, hung) say more than a gRPC
// client waiting for readiness does. A non-etcd answer is not an error here:
// gRPC may still be served on the URL.
func probeVersion(ctx context.Context, u string, conn *Conn) (versionInfo, error) {
	var v versionInfo
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(u, "/")+"/version", nil)
	if err != nil {
		return v, fmt.Errorf("bad URL: %w", err)
	}
	resp, err := conn.HTTPClient().Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return v, err
	}
	if resp.StatusCode == http.StatusBadRequest && strings.Contains(string(body), "HTTPS server") {
		return v, errors.New("endpoint speaks TLS: use https://")
	}
	if resp.StatusCode == http.StatusOK {
		_ = json.Unmarshal(body, &v) // best effort: Status gives the version too
	}
	return v, nil
}

func hexID(id uint64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatUint(id, 16)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return append([]string(nil), s...)
}

// proxyNote catches a common trap: the inventory names a load balancer or a
// Kubernetes Service, which answers, while the members advertise addresses
// the auditor cannot reach.
func proxyNote(d Discovery) string {
	if d.Reachable() > 0 || len(d.Members) == 0 {
		return ""
	}
	for _, m := range d.Members {
		if slices.Contains(m.ClientURLs, d.Source) {
			return ""
		}
	}
	return fmt.Sprintf("the member list came from %s, which no member advertises as a client URL (a load balancer or proxy?); "+
		"members are probed on their advertised URLs, which this host cannot reach", d.Source)
}
