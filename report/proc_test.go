package report

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// needBinary returns the path of a Debian-packaged tool the test runs for
// real: skipped when absent locally, a failure under CI=true, where `make
// deps` must have installed it.
func needBinary(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing under CI=true (run `make deps`): %v", path, err)
		}
		t.Skipf("%s not installed (run `make deps`): %v", path, err)
	}
	return path
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs bin on a loopback port (substituted for {port} in args),
// waits until GET base+ready answers 200, and kills it in t.Cleanup.
func startServer(t *testing.T, bin string, ready string, args ...string) string {
	t.Helper()
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i, a := range args {
		args[i] = string(bytes.ReplaceAll([]byte(a), []byte("{addr}"), []byte(addr)))
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", bin, logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("%s exited early:\n%s", bin, logs.String())
		default:
		}
		if code, _, err := httpGet(t.Context(), base+ready); err == nil && code == 200 {
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready on %s after 20s:\n%s", bin, addr, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(ctx context.Context, url string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
