package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() { subcommands = append(subcommands, newRemediateCmd) }

// remediateCommands is filled by each remediate subcommand's file.
var remediateCommands []func(*app) *cobra.Command

func newRemediateCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remediate",
		Short: "Plan, gate and apply fixes for failing controls (rolling upgrades), with a journal to resume or roll back",
		Long: `remediate turns failing controls that name a remediation into a plan a person
reads (plan), then runs exactly that plan when approved (apply): cluster by cluster,
smallest tier first, each step journaled, a verified backup before anything
destructive, a re-scan after every cluster. Nothing is ever written to a fleet
without "apply --approve".

  plan      collect or read facts, judge them, write the plan (touches nothing)
  apply     run an approved plan (see docs/remediation.md)`,
		Example: `  etcdaudit remediate plan -f fleet.yaml -o plan.json
  etcdaudit remediate apply -f fleet.yaml --plan plan.json --approve --state-dir /var/lib/etcdaudit`,
		Args: cobra.NoArgs,
	}
	for _, f := range remediateCommands {
		cmd.AddCommand(f(a))
	}
	return cmd
}

// colorFlag is --color for the remediate commands' text output.
type colorFlag struct{ mode string }

func addColorFlag(cmd *cobra.Command) *colorFlag {
	c := &colorFlag{}
	cmd.Flags().StringVar(&c.mode, "color", "auto", "colour the text output: auto (a terminal without NO_COLOR), always, never")
	return c
}

func (c *colorFlag) use(w io.Writer) (bool, error) {
	switch c.mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
		if os.Getenv("NO_COLOR") != "" {
			return false, nil
		}
		f, ok := w.(*os.File)
		return ok && term.IsTerminal(int(f.Fd())), nil
	}
	return false, fmt.Errorf("--color %q: want auto, always or never", c.mode)
}
