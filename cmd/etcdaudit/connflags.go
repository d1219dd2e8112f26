package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/spf13/cobra"
)

// fleetFlags is how every command names its fleet: an inventory file, or one
// cluster given the way etcdctl users already do (flags, then ETCDCTL_*).
type fleetFlags struct {
	cmd  *cobra.Command
	file string
	conn inventory.ConnFlags
}

// connFlagNames are the etcdctl-style flags that describe one cluster; with
// -f they conflict with the inventory, except the timeouts (overrides).
var connFlagNames = []string{"endpoints", "cacert", "cert", "key", "user", "password", "insecure-skip-tls-verify", "cluster-name", "server-name"}

// addFleetFlags registers -f/--file and the etcdctl connection flags on cmd.
func addFleetFlags(cmd *cobra.Command) *fleetFlags {
	f := &fleetFlags{cmd: cmd}
	fs := cmd.Flags()
	fs.StringVarP(&f.file, "file", "f", "", "fleet inventory (YAML); without it, one cluster from --endpoints and etcdctl's other connection flags")
	fs.StringSliceVar(&f.conn.Endpoints, "endpoints", nil, "one cluster's client URLs, comma-separated (env ETCDCTL_ENDPOINTS)")
	fs.StringVar(&f.conn.CACert, "cacert", "", "CA bundle to verify the servers (env ETCDCTL_CACERT)")
	fs.StringVar(&f.conn.Cert, "cert", "", "client certificate (env ETCDCTL_CERT)")
	fs.StringVar(&f.conn.Key, "key", "", "client key (env ETCDCTL_KEY)")
	fs.StringVar(&f.conn.ServerName, "server-name", "", "TLS server name to verify instead of the endpoint's host")
	fs.StringVar(&f.conn.User, "user", "", "etcd user, or user:password (env ETCDCTL_USER)")
	fs.StringVar(&f.conn.Password, "password", "", "etcd password; prefer ETCDCTL_PASSWORD, flags show in ps (env ETCDCTL_PASSWORD)")
	fs.BoolVar(&f.conn.InsecureSkipTLSVerify, "insecure-skip-tls-verify", false, "do not verify server certificates (env ETCDCTL_INSECURE_SKIP_TLS_VERIFY)")
	fs.DurationVar(&f.conn.DialTimeout, "dial-timeout", 0, fmt.Sprintf("connect timeout (default %s; env ETCDCTL_DIAL_TIMEOUT; with -f overrides every cluster)", inventory.DefaultDialTimeout))
	fs.DurationVar(&f.conn.CommandTimeout, "command-timeout", 0, fmt.Sprintf("per-request timeout (default %s; env ETCDCTL_COMMAND_TIMEOUT; with -f overrides every cluster)", inventory.DefaultCommandTimeout))
	fs.StringVar(&f.conn.Name, "cluster-name", "", "name of the cluster given by --endpoints (default: first endpoint's host-port)")
	return f
}

// load returns the fleet the flags name. Errors are the tool's own (exit 1).
func (f *fleetFlags) load() (*inventory.Fleet, error) {
	fs := f.cmd.Flags()
	if f.file == "" {
		f.conn.Set = fs.Changed
		return inventory.FromFlags(f.conn)
	}
	var clash []string
	for _, n := range connFlagNames {
		if fs.Changed(n) {
			clash = append(clash, "--"+n)
		}
	}
	if len(clash) > 0 {
		return nil, fmt.Errorf("%s cannot be combined with -f: the inventory sets them per cluster", strings.Join(clash, ", "))
	}
	ctx := f.cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	fleet, err := inventory.LoadContext(ctx, f.file)
	if err != nil {
		return nil, err
	}
	for flag, d := range map[string]time.Duration{"dial-timeout": f.conn.DialTimeout, "command-timeout": f.conn.CommandTimeout} {
		if !fs.Changed(flag) {
			continue
		}
		if d <= 0 {
			return nil, fmt.Errorf("--%s must be positive", flag)
		}
		for i := range fleet.Clusters {
			if flag == "dial-timeout" {
				fleet.Clusters[i].Collect.DialTimeout = d
			} else {
				fleet.Clusters[i].Collect.CommandTimeout = d
			}
		}
	}
	return fleet, nil
}
