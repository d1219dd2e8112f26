package history

import (
	"testing"
	"time"
)

// FuzzResolve: any reference a user (or an HTTP client, through
// /api/scans/{ref}) sends resolves or fails with an error, never panics,
// and a success is one of the listed scans.
func FuzzResolve(f *testing.F) {
	var list []Entry
	for d := 4; d >= 0; d-- {
		r := day(d)
		list = append(list, Entry{ID: r.ScanID, StartedAt: r.StartedAt})
	}
	now := list[0].StartedAt.Add(time.Hour)
	for _, seed := range []string{"", "latest", "latest~3", "latest~-1", "latest~99999999999999999999", "previous",
		list[2].ID, "2026", "2026-01-03", "2026-01-03T01:59", "36h", "7d", "-5d", "99999999d", "\x00", "2026-13-45"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		e, err := resolveIn(list, ref, now)
		if err != nil {
			return
		}
		for _, x := range list {
			if x.ID == e.ID {
				return
			}
		}
		t.Fatalf("Resolve(%q) = %q, not a listed scan", ref, e.ID)
	})
}
