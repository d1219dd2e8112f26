package etcdtest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
)

// startEmbedLocked starts the member in-process with the same URLs, data dir
// and options a process member would get, so a test can stop an embed member
// and Start it on a binary (or back).
func (m *Member) startEmbedLocked() error {
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.DataDir
	cu, err := url.Parse(m.ClientURL)
	if err != nil {
		return err
	}
	pu, err := url.Parse(m.PeerURL)
	if err != nil {
		return err
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = m.initialCluster
	cfg.InitialClusterToken = m.cfg.name + "-cluster"
	cfg.ClusterState = m.clusterState()
	cfg.Logger = "zap"
	cfg.LogOutputs = []string{m.LogFile}
	cfg.UnsafeNoFsync = true
	cfg.EnableV2 = m.cfg.v2
	if m.cfg.snapshotCount > 0 {
		cfg.SnapshotCount = m.cfg.snapshotCount
	}
	if m.cfg.auth {
		cfg.BcryptCost = bcryptCost
	}
	if t := m.c.TLS; t != nil {
		cfg.ClientTLSInfo = transport.TLSInfo{
			CertFile:       t.ServerCert,
			KeyFile:        t.ServerKey,
			TrustedCAFile:  t.CA,
			ClientCertAuth: true,
		}
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		err = fmt.Errorf("%s (embed): %w", m.Name, err)
		if strings.Contains(err.Error(), "address already in use") {
			err = errors.Join(errPortClash, err)
		}
		return err
	}
	m.emb = e
	return nil
}

// closeEmbed closes an in-process server. embed 3.5's Close waits for the
// client servers to stop, and they only exist once the server is ready: a
// member that never got a leader (its peer failed to start) would hang Close
// forever. Stopping the raft server first ends that wait.
func closeEmbed(e *embed.Etcd) {
	select {
	case <-e.Server.ReadyNotify():
	default:
		e.Server.HardStop()
	}
	e.Close()
}
