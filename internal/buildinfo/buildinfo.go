// Package buildinfo tells which etcdaudit is running, for `version`, reports
// and the history store.
package buildinfo

import "runtime/debug"

// Version is set with -ldflags "-X github.com/etcdaudit/etcdaudit/internal/buildinfo.Version=v1.2.3";
// otherwise it falls back to the module version `go install` recorded.
var Version = ""

// String returns the tool version, "devel" for a plain source build.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
