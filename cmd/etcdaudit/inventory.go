package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newInventoryCmd) }

func newInventoryCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Check a fleet inventory and discover its clusters' members",
		Example: `  etcdaudit inventory validate -f fleet.yaml
  etcdaudit inventory discover -f fleet.yaml -o json
  etcdaudit inventory discover --endpoints https://10.0.0.1:2379 --cacert ca.pem --cert me.pem --key me-key.pem`,
	}
	cmd.AddCommand(newInventoryValidateCmd(a), newInventoryDiscoverCmd(a))
	return cmd
}

func newInventoryValidateCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Validate an inventory offline: every problem at once, with file:line:column",
		Long: `Validate reads the inventory strictly and reports ALL problems at once (unknown or
misspelt fields, duplicate cluster names, malformed URLs, unreadable certificate files,
one endpoint in two clusters, inline passwords, ...). It makes no network call.

Exit codes: 0 valid, 1 problems found (or the file could not be read).`,
		Example: `  etcdaudit inventory validate -f fleet.yaml
  etcdaudit inventory validate -f fleet.yaml -o json | jq '.problems[].message'
  ETCDCTL_ENDPOINTS=https://10.0.0.1:2379 ETCDCTL_CACERT=ca.pem etcdaudit inventory validate`,
		Args: cobra.NoArgs,
	}
	ff := addFleetFlags(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if output != "text" && output != "json" {
			return fmt.Errorf("-o %q: use text or json", output)
		}
		fleet, err := ff.load()
		var ve *inventory.ValidationError
		switch {
		case errors.As(err, &ve):
			if output == "json" {
				if err := inventoryJSON(a.stdout, map[string]any{"file": ve.File, "valid": false, "problems": ve.Problems}); err != nil {
					return err
				}
			} else {
				for _, p := range ve.Problems {
					fmt.Fprintln(a.stdout, p.String())
				}
				fmt.Fprintf(a.stdout, "%s: %d problem%s\n", ve.File, len(ve.Problems), inventoryPlural(len(ve.Problems)))
			}
			return &exitError{code: 1}
		case err != nil:
			return err
		}
		endpoints := 0
		for _, c := range fleet.Clusters {
			endpoints += len(c.Endpoints)
		}
		if output == "json" {
			return inventoryJSON(a.stdout, map[string]any{"file": fleet.Source, "valid": true, "name": fleet.Name,
				"clusters": len(fleet.Clusters), "endpoints": endpoints, "warnings": fleet.Warnings})
		}
		for _, w := range fleet.Warnings {
			fmt.Fprintln(a.stdout, w.String())
		}
		warned := ""
		if n := len(fleet.Warnings); n > 0 {
			warned = fmt.Sprintf(" (%d warning%s)", n, inventoryPlural(n))
		}
		fmt.Fprintf(a.stdout, "%s: %d cluster%s, %d endpoint%s: OK%s\n", fleet.Source,
			len(fleet.Clusters), inventoryPlural(len(fleet.Clusters)), endpoints, inventoryPlural(endpoints), warned)
		return nil
	}
	return cmd
}

func newInventoryDiscoverCmd(a *app) *cobra.Command {
	var (
		output      string
		concurrency int
	)
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "List every cluster's members (MemberList) and whether each answers",
		Long: `Discover reads each cluster's member list from the first inventory endpoint that
answers, then probes every member on each of its client URLs (GET /version and the v3
Status call). A member that no URL reaches is still listed, with the reason per URL.
Every call has a deadline (the cluster's command timeout): a hung member costs its
timeout, not the run. Nothing is written to the clusters.

Exit codes: 0 when discovery ran, even if members are down (a scan judges that);
1 when the inventory or flags are invalid.`,
		Example: `  etcdaudit inventory discover -f fleet.yaml
  etcdaudit inventory discover -f fleet.yaml -o json --concurrency 32
  etcdaudit inventory discover --endpoints https://10.0.0.1:2379 --cacert ca.pem --cert me.pem --key me-key.pem`,
		Args: cobra.NoArgs,
	}
	ff := addFleetFlags(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.Flags().IntVar(&concurrency, "concurrency", 8, "clusters discovered at once")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if output != "table" && output != "json" {
			return fmt.Errorf("-o %q: use table or json", output)
		}
		if concurrency < 1 {
			return fmt.Errorf("--concurrency %d: must be at least 1", concurrency)
		}
		fleet, err := ff.load()
		if err != nil {
			return err
		}
		ds := discoverFleet(cmd.Context(), fleet, concurrency)
		for _, d := range ds {
			a.log.Debug("discovered", "cluster", d.Cluster, "members", len(d.Members), "reachable", d.Reachable(),
				"source", d.Source, "took", d.Duration, "error", d.Error)
		}
		if output == "json" {
			return inventoryJSON(a.stdout, map[string]any{"fleet": fleet.Name, "clusters": ds})
		}
		for i, d := range ds {
			if i > 0 {
				fmt.Fprintln(a.stdout)
			}
			printDiscovery(a.stdout, d)
		}
		return nil
	}
	return cmd
}

// discoverFleet runs Discover on every cluster, at most n at once, keeping
// inventory order in the result.
func discoverFleet(ctx context.Context, fleet *inventory.Fleet, n int) []inventory.Discovery {
	out := make([]inventory.Discovery, len(fleet.Clusters))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, c := range fleet.Clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			conn, err := inventory.Connect(c)
			if err != nil {
				out[i] = inventory.Discovery{Cluster: c.Name, Members: []inventory.Member{}, Error: err.Error()}
				return
			}
			out[i] = inventory.Discover(ctx, c, conn)
		}()
	}
	wg.Wait()
	return out
}

func printDiscovery(w io.Writer, d inventory.Discovery) {
	if !d.OK() {
		fmt.Fprintf(w, "cluster %s: member list unavailable: %s\n", d.Cluster, d.Error)
		return
	}
	fmt.Fprintf(w, "cluster %s (id %s): %d member%s, %d reachable; member list from %s; took %s\n",
		d.Cluster, d.ClusterID, len(d.Members), inventoryPlural(len(d.Members)), d.Reachable(), d.Source, d.Duration.Round(1e6))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tCLIENT URLS\tLEARNER\tVERSION\tREACHABLE")
	for _, m := range d.Members {
		name := m.Name
		if name == "" {
			name = "(unstarted)"
		}
		reach := "yes"
		switch {
		case m.IsLeader:
			reach = "yes (leader)"
		case m.LeaderID == "":
			reach = "yes, but it knows no leader"
		}
		if !m.Reachable {
			reach = "NO: " + m.Reason
		}
		version := m.Version
		if version == "" {
			version = "-"
		}
		urls := strings.Join(m.ClientURLs, ",")
		if urls == "" {
			urls = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, m.IDHex, urls, inventoryYesNo(m.IsLearner), version, reach)
	}
	tw.Flush()
	if d.Note != "" {
		fmt.Fprintf(w, "note: %s\n", d.Note)
	}
}

func inventoryJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func inventoryPlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func inventoryYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
