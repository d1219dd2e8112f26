package demo

import (
	"net"
	"sync"
	"testing"
)

// TestStartClusterRetriesAPortClash: the first port handed out is already
// taken by another listener (as when another process binds it between the
// choice and the bind); the cluster still starts, on other ports.
func TestStartClusterRetriesAPortClash(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var mu sync.Mutex
	first := true
	freePort = func() (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if first {
			first = false
			return taken.Addr().(*net.TCPAddr).Port, nil
		}
		return kernelPort()
	}
	t.Cleanup(func() { freePort = kernelPort })
	rc, err := startCluster(t.Context(), t.TempDir(), clusterSpec{name: "clash", members: 1})
	if err != nil {
		t.Fatalf("start after a port clash: %v", err)
	}
	defer rc.close()
	if len(rc.clients) != 1 || rc.clients[0] == "http://"+taken.Addr().String() {
		t.Fatalf("clients %v: want one, not the taken port", rc.clients)
	}
}
