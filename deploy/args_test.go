package deploy

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/collectors"
)

// TestManifestArgsParse hands every container's args in the manifests to
// the real etcdaudit binary with --help appended: a flag the CLI does not
// have, or a value its flag type refuses, fails here instead of in a
// CrashLoopBackOff. A --profile must name a profile the collectors know.
func TestManifestArgsParse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the etcdaudit binary")
	}
	bin := filepath.Join(t.TempDir(), "etcdaudit")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/etcdaudit").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	checked := 0
	for f, ms := range loadManifests(t) {
		for _, m := range ms {
			var spec any
			switch m.str("kind") {
			case "Deployment":
				spec = m.get("spec", "template", "spec")
			case "CronJob":
				spec = m.get("spec", "jobTemplate", "spec", "template", "spec")
			default:
				continue
			}
			for _, c := range manifest(spec.(map[string]any)).get("containers").([]any) {
				args := strs(c.(map[string]any)["args"])
				for _, a := range args {
					if p, ok := strings.CutPrefix(a, "--profile="); ok && !slices.Contains(collectors.Profiles, p) {
						t.Errorf("%s: --profile=%s is not one of %v", f, p, collectors.Profiles)
					}
				}
				out, err := exec.Command(bin, append(args, "--help")...).CombinedOutput()
				if err != nil {
					t.Errorf("%s: etcdaudit %s: %v\n%s", f, strings.Join(args, " "), err, out)
				}
				checked++
			}
		}
	}
	if checked < 3 {
		t.Errorf("only %d containers checked", checked)
	}
}
