package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// AddMember grows the cluster by one member the way an operator does:
// MemberAdd (or MemberAddAsLearner) through the API, then a server started
// with --initial-cluster-state=existing. version "" uses the cluster's
// version. It returns once the new member knows the leader; a learner stays
// a learner until the test promotes it (cli.MemberPromote). Tests of
// learners, and of a member list that changes between scans, start here.
// Endpoints and Client include the new member; a learner refuses most RPCs,
// so give clients the voters' URLs when a learner is present. etcd refuses
// additions until peers have been connected for 5 s: right after
// NewCluster this waits that long.
func (c *Cluster) AddMember(ctx context.Context, version string, learner bool) (*Member, error) {
	if version == "" {
		version = c.Version
	}
	short, err := shortVersion(version)
	if err != nil {
		return nil, err
	}
	if len(c.Members) >= 7 {
		return nil, fmt.Errorf("etcdtest: add member: %d members already", len(c.Members))
	}
	ports, err := reservePorts(2)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if c.TLS != nil {
		scheme = "https"
	}
	name := fmt.Sprintf("%s%d", c.cfg.name, len(c.Members))
	base := filepath.Join(c.dir, name+".added")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, err
	}
	m := &Member{
		Name:           name,
		ClientURL:      fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[0]),
		PeerURL:        fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		DataDir:        filepath.Join(base, "data"),
		LogFile:        filepath.Join(base, "etcd.log"),
		c:              c,
		cfg:            c.cfg,
		version:        short,
		joining:        true,
		addedAsLearner: learner,
	}

	// Learners refuse MemberAdd ("rpc not supported for learner").
	var running []string
	for _, o := range c.Members {
		if o.Running() && !o.Paused() && !o.addedAsLearner {
			running = append(running, o.ClientURL)
		}
	}
	if len(running) == 0 {
		return nil, fmt.Errorf("etcdtest: add member %s: no running member to add it through", name)
	}
	cfg, err := c.clientConfig(running...)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdtest: add member %s: %w", name, err)
	}
	defer func() { _ = cli.Close() }()
	// etcd refuses to add a member ("unhealthy cluster") until every peer has
	// been connected for 5 s, so right after NewCluster the first tries fail.
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var resp *clientv3.MemberAddResponse
	for {
		if learner {
			resp, err = cli.MemberAddAsLearner(actx, []string{m.PeerURL})
		} else {
			resp, err = cli.MemberAdd(actx, []string{m.PeerURL})
		}
		if err == nil {
			break
		}
		if !errors.Is(err, rpctypes.ErrUnhealthy) {
			return nil, fmt.Errorf("etcdtest: add member %s: %w", name, err)
		}
		select {
		case <-actx.Done():
			return nil, fmt.Errorf("etcdtest: add member %s: %w (gave up after %v)", name, err, actx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	var initial []string
	for _, pm := range resp.Members {
		n := pm.Name
		if pm.ID == resp.Member.ID {
			n = name
		}
		for _, u := range pm.PeerURLs {
			initial = append(initial, n+"="+u)
		}
	}
	m.initialCluster = strings.Join(initial, ",")
	c.Members = append(c.Members, m)
	if err := m.launch(short); err != nil {
		return m, fmt.Errorf("etcdtest: start added member %s: %w", name, err)
	}
	rctx, rcancel := context.WithTimeout(ctx, StartTimeout)
	defer rcancel()
	if err := m.WaitReady(rctx); err != nil {
		return m, fmt.Errorf("etcdtest: added member %s: %w", name, err)
	}
	return m, nil
}
