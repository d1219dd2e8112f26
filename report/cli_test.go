package report

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/etcdaudit/etcdaudit/results"
)

func TestCLIFitsEightyColumns(t *testing.T) {
	r := loadFixture(t)
	for _, verbose := range []bool{false, true} {
		var buf bytes.Buffer
		if err := Render(&buf, "cli", r, Options{Verbose: verbose, Color: ColorNever}); err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(buf.String(), "\n") {
			if n := utf8.RuneCountInString(l); n > 80 {
				t.Errorf("verbose=%v line %d has %d columns: %q", verbose, i+1, n, l)
			}
		}
	}
}

// TestCLIHostileNamesCannotDriveTheTerminal: a member name holding escape
// sequences and a newline must print as visible text, never as control
// characters that clear the screen or forge a line.
func TestCLIHostileNamesCannotDriveTheTerminal(t *testing.T) {
	r := loadFixture(t)
	var buf bytes.Buffer
	if err := Render(&buf, "cli", r, Options{Color: ColorNever}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.ContainsRune(out, 0x1b) {
		t.Fatal("uncoloured output contains an ESC byte")
	}
	if !strings.Contains(out, `member m2\u001b[2J\u001b[31mFAKE PASS\nline`) {
		t.Fatalf("hostile member name not shown escaped:\n%s", out)
	}
	var col bytes.Buffer
	if err := Render(&col, "cli", r, Options{Color: ColorAlways}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(col.Bytes(), []byte("\x1b[2J")) {
		t.Fatal("coloured output passes a fleet escape sequence through")
	}
	if !bytes.Contains(col.Bytes(), []byte("\x1b[31m✗ FAIL")) {
		t.Fatal("coloured output lacks the red failure style")
	}
}

func TestCLIFoldsPassesUnlessVerbose(t *testing.T) {
	r := loadFixture(t)
	var short, long bytes.Buffer
	if err := Render(&short, "cli", r, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Render(&long, "cli", r, Options{Verbose: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(short.String(), "PASS ") {
		t.Error("passes listed one by one without --verbose")
	}
	if !strings.Contains(short.String(), "cluster prod-ap (region=southeastasia, tier=large) ✓ all 28 results passed") {
		t.Errorf("an all-passing cluster is not folded:\n%s", short.String())
	}
	if got := strings.Count(long.String(), "✓ PASS"); got != 51 {
		t.Errorf("verbose lists %d passes, want 51", got)
	}
	if !strings.Contains(short.String(), "78 results: 16 failed, 6 error, 2 skipped, 3 waived, 51 passed in 3.21s") {
		t.Errorf("summary line missing or wrong:\n%s", short.String())
	}
}

// TestCLIColorOnlyOnATerminal opens a real pseudo-terminal: auto colour is on
// for it, off for a pipe, and off on the terminal when NO_COLOR is set.
func TestCLIColorOnlyOnATerminal(t *testing.T) {
	ptm, pts := openPTY(t)
	defer ptm.Close()
	defer pts.Close()
	if !useColor(ColorAuto, pts) {
		t.Error("auto colour off on a terminal")
	}
	t.Setenv("NO_COLOR", "1")
	if useColor(ColorAuto, pts) {
		t.Error("auto colour on although NO_COLOR is set")
	}
	if !useColor(ColorAlways, pts) {
		t.Error("--color=always ignored")
	}
	t.Setenv("NO_COLOR", "")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if useColor(ColorAuto, pw) {
		t.Error("auto colour on for a pipe")
	}
}

func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		ptm.Close()
		t.Skipf("unlock pty: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		ptm.Close()
		t.Skipf("pty number: %v", e)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR, 0)
	if err != nil {
		ptm.Close()
		t.Skipf("open pty: %v", err)
	}
	return ptm, pts
}

func TestWrapText(t *testing.T) {
	for _, tc := range []struct {
		in          string
		first, rest int
		want        []string
	}{
		{"short", 10, 10, []string{"short"}},
		{"aaa bbb ccc", 7, 7, []string{"aaa bbb", "ccc"}},
		{"abcdefghijklmnop", 10, 10, []string{"abcdefghij", "klmnop"}},
		{"\x1b[31mred words here\x1b[0m", 9, 9, []string{"\x1b[31mred words", "here\x1b[0m"}},
		{"", 10, 10, []string{""}},
	} {
		got := wrapText(tc.in, tc.first, tc.rest)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("wrapText(%q, %d) = %q, want %q", tc.in, tc.first, got, tc.want)
		}
	}
}

// TestCLIClipsHugeMessages: a megabyte-long message (a collector dumping a
// key list) is cut on the terminal with a pointer to the full report.
func TestCLIClipsHugeMessages(t *testing.T) {
	msg := strings.Repeat("é", 1<<19) // 1 MiB, multi-byte runes
	r := &results.Report{Results: []results.Result{{Control: "C", Cluster: "c", Member: "m", Status: results.Failed, Messages: []string{msg}}}}
	var buf bytes.Buffer
	if err := Render(&buf, "cli", r, Options{}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 10_000 || !strings.Contains(buf.String(), "more bytes; see the json report") {
		t.Fatalf("huge message not clipped: %d bytes", buf.Len())
	}
	if !utf8.Valid(buf.Bytes()) {
		t.Fatal("clipping split a rune")
	}
}

// BenchmarkCLILongWord guards the wrapper against quadratic behaviour on one
// very long unbroken value (1 MiB: a quadratic wrapper takes tens of seconds).
func BenchmarkCLILongWord(b *testing.B) {
	r := &results.Report{Results: []results.Result{{Control: "C", Cluster: strings.Repeat("c", 1<<20), Status: results.Failed}}}
	for b.Loop() {
		if err := Render(io.Discard, "cli", r, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCLIWidthFollowsTheTerminal(t *testing.T) {
	ptm, pts := openPTY(t)
	defer ptm.Close()
	defer pts.Close()
	ws := struct{ rows, cols, x, y uint16 }{24, 60, 0, 0}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, pts.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws))); e != 0 {
		t.Skipf("set window size: %v", e)
	}
	if got := termWidth(pts); got != 60 {
		t.Errorf("width on a 60-column terminal = %d", got)
	}
	if got := termWidth(&bytes.Buffer{}); got != 80 {
		t.Errorf("width for a buffer = %d, want 80", got)
	}
}
