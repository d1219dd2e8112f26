package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/etcdaudit/etcdaudit/internal/pki"
)

// clusterSpec describes one in-process demo cluster.
type clusterSpec struct {
	name    string
	members int
	v2      bool
	tls     *pki.Files
}

// runningCluster is a started in-process cluster.
type runningCluster struct {
	spec    clusterSpec
	servers []*embed.Etcd
	clients []string // client URLs, one per member
}

// close stops the followers together, then the leader. Each Close waits up
// to etcd's request timeout (about 7 s) per listener for clients still
// connected, so members stop in parallel rather than one by one; and a
// leader that stops hands its leadership to a connected peer, waiting up to
// that timeout for it, which never comes when the peer is stopping too.
// With its followers gone it has no peer to hand to and stops at once.
func (c *runningCluster) close() {
	var leaders, followers []*embed.Etcd
	for _, s := range c.servers {
		if s.Server.Lead() == uint64(s.Server.ID()) {
			leaders = append(leaders, s)
		} else {
			followers = append(followers, s)
		}
	}
	for _, group := range [][]*embed.Etcd{followers, leaders} {
		var wg sync.WaitGroup
		for _, s := range group {
			wg.Go(s.Close)
		}
		wg.Wait()
	}
}

// startCluster starts spec.members embedded etcd 3.5 servers forming one
// cluster on loopback ports chosen by the kernel, each with its data under
// dir, and waits until every member is ready. A port is free when chosen and
// bound a moment later, so another process can take it in between: such a
// clash starts the cluster again on new ports with clean member dirs (the
// cluster is new, nothing in them is kept), at most three times.
func startCluster(ctx context.Context, dir string, spec clusterSpec) (*runningCluster, error) {
	for attempt := 1; ; attempt++ {
		rc, err := startClusterOnce(ctx, dir, spec)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return rc, err
		}
		for i := range spec.members {
			name := filepath.Join(dir, fmt.Sprintf("%s-%d", spec.name, i+1))
			if rerr := errors.Join(os.RemoveAll(name), os.RemoveAll(name+".log")); rerr != nil {
				return nil, fmt.Errorf("cluster %s: after a port clash: %w", spec.name, rerr)
			}
		}
	}
}

// freePort is a variable so a test can hand out a port already taken.
var freePort = kernelPort

func startClusterOnce(ctx context.Context, dir string, spec clusterSpec) (*runningCluster, error) {
	scheme := "http"
	if spec.tls != nil {
		scheme = "https"
	}
	type ports struct{ client, peer string }
	ps := make([]ports, spec.members)
	var initial []string
	for i := range ps {
		cp, err := freePort()
		if err != nil {
			return nil, err
		}
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		ps[i] = ports{client: fmt.Sprintf("%s://127.0.0.1:%d", scheme, cp), peer: fmt.Sprintf("http://127.0.0.1:%d", pp)}
		initial = append(initial, fmt.Sprintf("%s-%d=%s", spec.name, i+1, ps[i].peer))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", spec.name, err)
	}
	rc := &runningCluster{spec: spec}
	for i, p := range ps {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("%s-%d", spec.name, i+1)
		cfg.Dir = filepath.Join(dir, cfg.Name)
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = spec.name
		cfg.EnableV2 = spec.v2
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{filepath.Join(dir, cfg.Name+".log")}
		cu, pu := mustURL(p.client), mustURL(p.peer)
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
		if spec.tls != nil {
			cfg.ClientTLSInfo = transport.TLSInfo{
				CertFile:       spec.tls.ServerCert,
				KeyFile:        spec.tls.ServerKey,
				TrustedCAFile:  spec.tls.CA,
				ClientCertAuth: true,
			}
		}
		srv, err := embed.StartEtcd(cfg)
		if err != nil {
			rc.close()
			return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
		}
		rc.servers = append(rc.servers, srv)
		rc.clients = append(rc.clients, p.client)
	}
	for _, s := range rc.servers {
		select {
		case <-s.Server.ReadyNotify():
		case err := <-s.Err():
			rc.close()
			return nil, fmt.Errorf("cluster %s: %w", spec.name, err)
		case <-time.After(30 * time.Second):
			rc.close()
			return nil, fmt.Errorf("cluster %s: not ready after 30s", spec.name)
		case <-ctx.Done():
			rc.close()
			return nil, ctx.Err()
		}
	}
	return rc, nil
}

func kernelPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(fmt.Sprintf("demo: bad URL %q: %v", s, err)) // built above from integers; cannot happen
	}
	return *u
}
