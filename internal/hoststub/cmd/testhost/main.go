// Command testhost is the tests' stand-in for a host's ssh/systemctl: the
// inventory hooks of a test call it, and it forwards the call to the hoststub
// supervisor in the test process over a unix socket, which acts on real etcd
// member processes.
//
//	testhost --socket S stop|start|install|set-flags|status|restore|writers-stop|writers-start|set-backend|verify|check-v2store <member> [args]
//
// Exit status 0 on success, 1 when the supervisor reports an error, 2 on bad
// usage or when the supervisor cannot be reached.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/etcdaudit/etcdaudit/internal/hoststub/wire"
)

func main() {
	args := os.Args[1:]
	if len(args) < 4 || args[0] != "--socket" || !slices.Contains(wire.Ops, args[2]) {
		fmt.Fprintf(os.Stderr, "usage: testhost --socket S %s <member> [args]\n", strings.Join(wire.Ops, "|"))
		os.Exit(2)
	}
	req := wire.Request{Op: args[2], Member: args[3], Args: args[4:], Env: map[string]string{}}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "ETCDAUDIT_") {
			req.Env[k] = v
		}
	}
	conn, err := net.DialTimeout("unix", args[1], 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testhost: %v\n", err)
		os.Exit(2)
	}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		fmt.Fprintf(os.Stderr, "testhost: send: %v\n", err)
		os.Exit(2)
	}
	var resp wire.Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		fmt.Fprintf(os.Stderr, "testhost: no answer from the supervisor: %v\n", err)
		os.Exit(2)
	}
	fmt.Print(resp.Output)
	if resp.Error != "" {
		fmt.Fprintln(os.Stderr, resp.Error)
		os.Exit(1)
	}
}
