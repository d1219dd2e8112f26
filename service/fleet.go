package service

import (
	"context"
	"fmt"
	"time"

	"github.com/etcdaudit/etcdaudit/collectors"
	"github.com/etcdaudit/etcdaudit/inventory"
	"github.com/etcdaudit/etcdaudit/policies"
	"github.com/etcdaudit/etcdaudit/results"
)

// FleetConfig is what a real scan of a fleet needs: the same pipeline as
// `etcdaudit scan` (inventory → collectors → policies.Judge).
type FleetConfig struct {
	// Inventory is the fleet file, re-read before every scan so an edited
	// ConfigMap applies at the next scan without a restart. Nil Fleet
	// below overrides it (tests, one-cluster flags).
	Inventory string
	Fleet     *inventory.Fleet
	Collect   collectors.Options
	Policies  policies.Config
	// Waivers is a waivers file, re-read before every scan; "" for none.
	Waivers string
	Now     func() time.Time
}

// FleetScanner checks everything it can up front (the inventory parses,
// the policies compile, the waivers load) so a broken configuration stops
// `serve` at start instead of failing every scan, and returns the ScanFunc.
func FleetScanner(ctx context.Context, cfg FleetConfig) (ScanFunc, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Fleet == nil && cfg.Inventory == "" {
		return nil, fmt.Errorf("serve: no inventory")
	}
	engine, err := policies.New(ctx, cfg.Policies)
	if err != nil {
		return nil, fmt.Errorf("serve: policies: %w", err)
	}
	load := func() (*inventory.Fleet, *policies.Waivers, error) {
		fleet := cfg.Fleet
		if fleet == nil {
			if fleet, err = inventory.Load(cfg.Inventory); err != nil {
				return nil, nil, err
			}
		}
		var w *policies.Waivers
		if cfg.Waivers != "" {
			if w, err = policies.LoadWaivers(cfg.Waivers); err != nil {
				return nil, nil, err
			}
		}
		return fleet, w, nil
	}
	if _, _, err := load(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return func(ctx context.Context) (*results.Report, error) {
		fleet, w, err := load()
		if err != nil {
			return nil, err
		}
		facts, err := collectors.Run(ctx, fleet, cfg.Collect)
		if err != nil {
			return nil, err
		}
		if ctx.Err() != nil || facts.Interrupted != "" {
			return nil, fmt.Errorf("scan interrupted: %s", orStr(facts.Interrupted, ctx.Err()))
		}
		return policies.Judge(ctx, engine, facts, w, cfg.Now())
	}, nil
}

func orStr(s string, err error) string {
	if s != "" || err == nil {
		return s
	}
	return err.Error()
}
