// Package units renders sizes for people, one way everywhere (drift
// messages, the HTML report), so the same db size never reads differently
// in two places.
package units

import "fmt"

// Bytes renders n in IEC units with one decimal: 512 B, 1.5 KiB, 2.0 GiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
