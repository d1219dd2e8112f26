// Command etcd is the etcd server built from the Go module proxy for the
// test harness: etcd's own go.mod carries replace directives, so
// `go install go.etcd.io/etcd/server/v3@vX` is refused and this wrapper is
// the smallest module that builds the real server.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
