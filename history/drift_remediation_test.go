package history

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/results"
)

// TestAttachRemediation: only runs active between the two scans are kept;
// a change gets the run whose action makes that kind of change on its
// cluster and member (or whose steps were made for that control); a run
// that explains nothing is still listed, said so in every format.
func TestAttachRemediation(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	d := &Drift{
		From: ScanRef{ID: "a", StartedAt: t0}, To: ScanRef{ID: "b", StartedAt: t0.Add(24 * time.Hour)},
		Counts: map[string]int{},
		Controls: []ControlChange{
			{Transition: Resolved, Control: "ETCD-V2-001", Cluster: "legacy", Member: "legacy-1"},
			{Transition: Resolved, Control: "ETCD-VER-002", Cluster: "prod", Member: "m1"},
		},
		Facts: []FactChange{
			{Kind: V2KeysVanished, Cluster: "legacy", Message: "v2 keys 60 -> 0"},
			{Kind: MemberUpgraded, Cluster: "prod", Member: "m1", Message: "3.5.35 -> 3.6.16"},
			{Kind: MemberUpgraded, Cluster: "prod", Member: "m2", Message: "3.5.35 -> 3.6.16"},
			{Kind: DBSizeGrew, Cluster: "prod", Member: "m1", Message: "grew"},
		},
	}
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	runs := []results.RemediationRun{
		{ID: "before", Status: "done", Started: at(-3), Ended: at(-2),
			Targets: []results.RemediationTarget{{Cluster: "prod", Member: "m2", Action: "upgrade"}}},
		{ID: "up", Status: "done", Approver: "ana", Started: at(3), Ended: at(4),
			Targets: []results.RemediationTarget{{Cluster: "prod", Member: "m1", Action: "upgrade", Controls: []string{"ETCD-VER-002"}, Steps: 1, Acted: 1}}},
		{ID: "mig", Status: "rolled-back", Approver: "bo", Started: at(5), Ended: at(6),
			Targets: []results.RemediationTarget{{Cluster: "legacy", Action: "migrate-v2-to-v3", Controls: []string{"ETCD-V2-001"}, Steps: 3, Acted: 3, RolledBack: 3}}},
		{ID: "noop", Status: "done", Approver: "cy", Started: at(7), Ended: at(8),
			Targets: []results.RemediationTarget{{Cluster: "prod", Member: "m3", Action: "upgrade", Steps: 1}}},
		{ID: "after", Status: "done", Started: at(25), Ended: at(26),
			Targets: []results.RemediationTarget{{Cluster: "prod", Member: "m2", Action: "upgrade"}}},
	}
	d.AttachRemediation(runs)
	ids := func(refs []RemediationRef) string {
		var s []string
		for _, r := range refs {
			s = append(s, r.Run+":"+strings.Join(r.Actions, "+"))
		}
		return strings.Join(s, ",")
	}
	for i, want := range []string{"mig:migrate-v2-to-v3", "up:upgrade", "", ""} {
		if got := ids(d.Facts[i].Remediation); got != want {
			t.Errorf("fact %s %s/%s: %q, want %q", d.Facts[i].Kind, d.Facts[i].Cluster, d.Facts[i].Member, got, want)
		}
	}
	for i, want := range []string{"mig:migrate-v2-to-v3", "up:upgrade"} {
		if got := ids(d.Controls[i].Remediation); got != want {
			t.Errorf("control %s: %q, want %q", d.Controls[i].Control, got, want)
		}
	}
	var seen []string
	for _, r := range d.Remediation {
		seen = append(seen, r.ID+"="+string(rune('0'+r.Changes)))
	}
	if got := strings.Join(seen, " "); got != "up=2 mig=2 noop=0" {
		t.Errorf("runs %q", got)
	}
	for _, format := range DriftFormats {
		var b bytes.Buffer
		if err := RenderDrift(&b, format, d); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, w := range []string{"noop", "changed nothing this drift shows", "run up (upgrade, approved by ana)", "run mig (migrate-v2-to-v3, approved by bo, rolled-back)"} {
			if format == "json" {
				break
			}
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", format, w, out)
			}
		}
		if strings.Contains(out, "before") || strings.Contains(out, `"after"`) || strings.Contains(out, "run after") {
			t.Errorf("%s shows a run outside the window:\n%s", format, out)
		}
	}
	d.AttachRemediation(nil)
	if d.Remediation != nil || d.Facts[0].Remediation != nil {
		t.Error("a second call did not replace the first")
	}
}

// TestDriftHTMLEscapes: fleet text reaches the drift page as text.
func TestDriftHTMLEscapes(t *testing.T) {
	d := &Drift{Counts: map[string]int{}, Facts: []FactChange{{Kind: BackendChanged, Cluster: "<script>x</script>", Message: "<img src=x>"}}}
	d.AttachRemediation([]results.RemediationRun{{ID: "r<b>", Status: "done", Started: time.Now(), Ended: time.Now(),
		Targets: []results.RemediationTarget{{Cluster: "<script>x</script>", Action: "switch-backend"}}}})
	var b bytes.Buffer
	if err := RenderDrift(&b, "html", d); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); strings.Contains(out, "<script>x") || strings.Contains(out, "<img") || strings.Contains(out, "r<b>") {
		t.Errorf("unescaped fleet text:\n%s", out)
	}
}
