//go:build unix

package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/inputfile/inputfiletest"
)

// TestInputsThatAreNotFiles: every file a command reads by the user's path
// refuses a FIFO, /dev/zero, a directory, a socket and a 64 GiB sparse file
// at once, exit 1, naming the path and what it is. (Policy files: see the
// policies package; a --policy path that is no directory must end in .rego.)
func TestInputsThatAreNotFiles(t *testing.T) {
	for _, c := range inputfiletest.Hostile(t) {
		for _, args := range [][]string{
			{"inventory", "validate", "-f", c.Path},
			{"inventory", "validate", "--endpoints", "https://127.0.0.1:2379", "--cacert", c.Path},
			{"eval", "--facts", c.Path},
			{"eval", "--facts", facts("seed-3.2.json"), "--data", c.Path},
			{"eval", "--facts", facts("seed-3.2.json"), "--waivers", c.Path},
			{"report", "--from", c.Path},
			{"drift", "--from-file", c.Path, "--to-file", savedReport},
		} {
			t.Run(c.Name+"/"+args[0]+args[len(args)-2], func(t *testing.T) {
				type res struct {
					code   int
					stderr string
				}
				r := inputfiletest.Within(t, func() res {
					code, _, stderr := runCLI(t, args...)
					return res{code, stderr}
				})
				if r.code != 1 || !strings.Contains(r.stderr, c.Want) {
					t.Errorf("%v: exit %d, want 1 with %q\n%s", args, r.code, c.Want, r.stderr)
				}
			})
		}
	}
}

// endless is a stdin that never ends (a pipe from a stuck producer): a JSON
// string that keeps going, a kilobyte a millisecond.
type endless struct{ started bool }

func (e *endless) Read(p []byte) (int, error) {
	if !e.started {
		e.started = true
		return copy(p, `{"schema": "`), nil
	}
	time.Sleep(time.Millisecond)
	n := min(len(p), 1024)
	for i := range n {
		p[i] = 'a'
	}
	return n, nil
}

// TestStdinReadIsCancellable: SIGTERM (the command's context) stops a
// command reading an endless document from stdin.
func TestStdinReadIsCancellable(t *testing.T) {
	for _, args := range [][]string{{"eval", "--facts", "-"}, {"report", "--from", "-"}} {
		t.Run(args[0], func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errb strings.Builder
			root := newRootCmd(&out, &errb)
			root.SetIn(&endless{})
			root.SetArgs(args)
			time.AfterFunc(200*time.Millisecond, cancel)
			err := inputfiletest.Within(t, func() error { return root.ExecuteContext(ctx) })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%v: %v, want context.Canceled", args, err)
			}
		})
	}
}

var _ io.Reader = (*endless)(nil)
