package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/internal/buildinfo"
)

func init() { subcommands = append(subcommands, newVersionCmd) }

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print etcdaudit's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.stdout, "etcdaudit %s (%s, %s/%s, facts schema %s)\n",
				buildinfo.String(), runtime.Version(), runtime.GOOS, runtime.GOARCH, collectors.FactsSchema)
			return nil
		},
	}
}
