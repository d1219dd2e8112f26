package inventory

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse validates a 5,000-cluster inventory (three endpoints,
// labels and collect settings each): the size of a large fleet.
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("name: big\ndefaults:\n  labels: {owner: sre}\n  collect: {command_timeout: 5s}\nclusters:\n")
	for i := range 5000 {
		fmt.Fprintf(&sb, "  - name: c%04d\n    endpoints: [https://10.%d.%d.1:2379, https://10.%d.%d.2:2379, https://10.%d.%d.3:2379]\n"+
			"    labels: {tier: small, region: r%d}\n    collect: {page_size: 5000}\n", i, i/256, i%256, i/256, i%256, i/256, i%256, i%7)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := Parse("big.yaml", data)
		if err != nil || len(f.Clusters) != 5000 {
			b.Fatalf("%v", err)
		}
	}
}
