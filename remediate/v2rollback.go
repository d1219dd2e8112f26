package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/etcdaudit/etcdaudit/remediate/journal"
	"github.com/etcdaudit/etcdaudit/remediate/v2data"
)

// undoData undoes one v2 data step that ran (fully or in part): the cleanup
// by re-importing the v2 dump, the backend switch by pointing the writers
// back at etcd2 (stopped), the copy by deleting the keys it wrote by exact
// key and mod revision, the writers' stop by starting them again. Needs the
// v2 API: it works while the members still serve --enable-v2, i.e. before
// the hop's restarts.
func (cr *clusterRun) undoData(ctx context.Context, s *Step, r journal.StepRecord) error {
	started := time.Now().UTC()
	label := fmt.Sprintf("cluster %s  rollback %s", cr.c.Name, s.ID)
	cr.e.printf("%s: started", label)
	var note string
	runHooks := func(backend string, names ...string) error {
		v := StepVars(cr.c.Name, cr.run.ID, s)
		v.Backend = backend
		for _, h := range names {
			res, err := cr.hooks.Run(ctx, h, v)
			r.Hooks = append(r.Hooks, res)
			if err != nil {
				return fmt.Errorf("%s: %w", label, err)
			}
		}
		return nil
	}
	switch s.Kind {
	case KindV2Cleanup:
		d, err := cr.dumpOf(s)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		// The cleanup deleted what the copy had read: the dump taken
		// when the writers had stopped holds exactly that.
		if c, err := cr.copyOf(s); err == nil && c.Stopped != nil {
			d = *c.Stopped
		}
		kapi, done, err := cr.kapi(ctx)
		if err != nil {
			return err
		}
		defer done()
		rep, err := v2data.Reimport(ctx, kapi, d.Path, d.Info)
		if err != nil {
			return fmt.Errorf("%s: re-import %s: %w", label, d.Path, err)
		}
		note = fmt.Sprintf("v2 re-imported from %s: %+v", d.Path, rep)
	case KindSwitchBackend:
		if err := runHooks("etcd2", hookStopWriters, hookSetBackend); err != nil {
			return err
		}
		note = "writers stopped and set back to etcd2"
	case KindV2Copy:
		var d copyData
		var written []v2data.KeyRev
		var found string
		if err := json.Unmarshal(r.Data, &d); err != nil || (d.Report.Keys > 0 && d.Report.Written == nil) {
			// The copy died before it returned (killed): its list is
			// not in the journal, so find what it wrote.
			if written, found, err = cr.findCopied(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", label, err)
			}
		} else {
			written = d.Report.Written
		}
		rep, err := v2data.DeleteCopied(ctx, cr.pr.cli, written)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		note = fmt.Sprintf("%scopied v3 keys deleted by key and mod revision: %+v", found, rep)
	case KindStopWriters:
		if err := runHooks("etcd2", hookStartWriters); err != nil {
			return err
		}
		note = "writers started again"
	default:
		return nil
	}
	return cr.markRolledBack(r, note, label, started)
}

// findCopied lists the keys an interrupted copy step s wrote: the v2 keys
// under the dump's prefixes that v3 holds with the identical value (see
// v2data.FindCopied). found says so for the rollback's note.
func (cr *clusterRun) findCopied(ctx context.Context, s *Step) (written []v2data.KeyRev, found string, err error) {
	d, err := cr.dumpOf(s)
	if err != nil {
		return nil, "", err
	}
	kapi, done, err := cr.kapi(ctx)
	if err != nil {
		return nil, "", err
	}
	defer done()
	written, other, err := v2data.FindCopied(ctx, kapi, cr.pr.cli, d.Prefixes)
	if err != nil {
		return nil, "", err
	}
	found = fmt.Sprintf("the copy was interrupted: %d keys found in v3 with their v2 value", len(written))
	if other.Count > 0 {
		found += fmt.Sprintf(", %d holding another value kept %v", other.Count, other.Keys)
	}
	return written, found + "; ", nil
}

// isDataKind: the step is one of the v2 data steps rollback undoes.
func isDataKind(k string) bool {
	switch k {
	case KindV2Cleanup, KindSwitchBackend, KindV2Copy, KindStopWriters:
		return true
	}
	return false
}
