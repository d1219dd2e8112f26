package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium runs the Debian Chromium headless with everything that could
// reach the network or a profile turned off, on a fresh profile dir, and
// returns its stdout. The page itself also forbids all network through its
// Content-Security-Policy.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := needBinary(t, "/usr/bin/chromium")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

func writeHTML(t *testing.T, opts Options) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	specs, err := ParseSpecs([]string{"html:" + path})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(t.Context(), specs, loadFixture(t), opts); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	heatRowRE = regexp.MustCompile(`<tr class="hrow"[^>]*>`)
	scriptRE  = regexp.MustCompile(`(?i)<script`)
)

// TestHTMLInChromium opens the report in a real browser: our script ran (it
// marks the body), no hostile payload ran (they would mark it too), the
// hostile key shows as text, and a screenshot is kept as a test artefact.
func TestHTMLInChromium(t *testing.T) {
	path := writeHTML(t, goldenOpts())
	dom := string(chromium(t, "--dump-dom", "file://"+path))
	if !strings.Contains(dom, `data-ready="yes"`) {
		t.Fatalf("the report's own script did not run (CSP hash or a JS error?):\n%.2000s", dom)
	}
	body := regexp.MustCompile(`<body[^>]*>`).FindString(dom)
	if body == "" || strings.Contains(body, "data-pwned") {
		t.Fatalf("a hostile payload from the fleet ran in the browser: %s", body)
	}
	if n := len(scriptRE.FindAllString(dom, -1)); n != 1 {
		t.Errorf("DOM holds %d <script> elements, want only the report's own", n)
	}
	for _, text := range []string{
		`/registry/configmaps/default/&lt;script&gt;alert(1)&lt;/script&gt;`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`,
		`lab "edge" &lt;img src=x onerror=alert(2)&gt;`,
	} {
		if !strings.Contains(dom, text) {
			t.Errorf("hostile value not shown as text: %s", text)
		}
	}
	if strings.Contains(dom, "<img") {
		t.Error("an <img> element exists: fleet text became markup")
	}
	if got := len(heatRowRE.FindAllString(dom, -1)); got != 4 {
		t.Errorf("heat map has %d rows, want 4 clusters", got)
	}

	shot := filepath.Join("..", "testdata", "golden", "artifacts", "report.png")
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(shot)
	os.Remove(abs)
	chromium(t, "--window-size=1400,1800", "--hide-scrollbars", "--screenshot="+abs, "file://"+path)
	if st, err := os.Stat(abs); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s missing or empty: %v", abs, err)
	}
	t.Logf("screenshot: %s", abs)

	// The drill-down of the legacy cluster, opened through the query string.
	drill := filepath.Join(filepath.Dir(abs), "report-legacy-eu.png")
	os.Remove(drill)
	chromium(t, "--window-size=1400,1400", "--hide-scrollbars", "--screenshot="+drill, "file://"+path+"?q=legacy-eu&expand=1")
	if st, err := os.Stat(drill); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s missing or empty: %v", drill, err)
	}
	dom = string(chromium(t, "--dump-dom", "file://"+path+"?q=legacy-eu&expand=1"))
	if !regexp.MustCompile(`<details class="cluster" id="c-2"[^>]* open=""`).MatchString(dom) {
		t.Error("?expand=1 did not open the shown cluster")
	}
	if !strings.Contains(dom, "<code>ETCD-V2-001</code> No custom data in the v2 store") {
		t.Error("opened cluster rows lack the control titles the script fills in")
	}
	t.Logf("screenshot: %s", drill)
}

// TestHTMLFiltersInChromium drives the filters through the query string
// (the same code path the controls use) and reads the resulting DOM.
func TestHTMLFiltersInChromium(t *testing.T) {
	path := writeHTML(t, goldenOpts())
	dom := string(chromium(t, "--dump-dom", "file://"+path+"?status=failed&tier=small"))
	if !strings.Contains(dom, `data-ready="yes"`) {
		t.Fatal("script did not run")
	}
	shown := map[string]bool{}
	for _, row := range heatRowRE.FindAllString(dom, -1) {
		name := regexp.MustCompile(`data-name="([^"]*)"`).FindStringSubmatch(row)
		if name == nil {
			t.Fatalf("row without a name: %s", row)
		}
		shown[name[1]] = !strings.Contains(row, "hidden")
	}
	want := map[string]bool{"legacy-eu": true, `lab &quot;edge&quot; &lt;img src=x onerror=alert(2)&gt;`: true,
		"half-migrated-us": false, "prod-ap": false}
	for n, vis := range want {
		if got, ok := shown[n]; !ok || got != vis {
			t.Errorf("cluster %s shown=%v (found %v), want %v", n, got, ok, vis)
		}
	}
	if !strings.Contains(dom, "2 of 4 clusters shown") {
		t.Error("the shown-count does not say 2 of 4")
	}
	// Only failed result rows remain visible.
	for _, row := range regexp.MustCompile(`<tr class="res"[^>]*>`).FindAllString(dom, -1) {
		if !strings.Contains(row, `data-s="failed"`) && !strings.Contains(row, "hidden") {
			t.Errorf("non-failed result row visible: %s", row)
		}
	}

	dom = string(chromium(t, "--dump-dom", "file://"+path+"?tag=leases"))
	heads := regexp.MustCompile(`<th class="ctl"[^>]*>`).FindAllString(dom, -1)
	visible := 0
	for _, h := range heads {
		if !strings.Contains(h, "hidden") {
			visible++
			if !strings.Contains(h, " leases ") {
				t.Errorf("column without the tag visible: %s", h)
			}
		}
	}
	if visible != 1 {
		t.Errorf("%d columns visible for tag=leases, want 1", visible)
	}
}

// TestHTMLIsSelfContained: nothing in the page may load from anywhere.
func TestHTMLIsSelfContained(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, "html", loadFixture(t), goldenOpts()); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, bad := range []string{`src="http`, `href="http`, `src="//`, `href="//`, "@import", "url(http", `<link `} {
		if strings.Contains(page, bad) {
			t.Errorf("page references something external: %q", bad)
		}
	}
	if !strings.Contains(page, "default-src &#39;none&#39;") && !strings.Contains(page, "default-src 'none'") {
		t.Error("no Content-Security-Policy forbidding network")
	}
}
