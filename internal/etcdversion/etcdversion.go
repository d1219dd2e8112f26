// Package etcdversion parses and orders etcd version strings the way semver
// does, so every part of etcdaudit (collectors, drift, reports, the upgrade
// planner) agrees on what "newer" means.
//
// It accepts what etcd servers and their operators write: "3.5.35",
// "v3.6.0-rc.1", "3.7.0-alpha.0+build", "3.5" (patch 0), and the plain-text
// body of etcd 2.0's GET /version ("etcd 2.0.13"). Pre-releases order before
// their release and among themselves by semver's identifier rules
// (https://semver.org/#spec-item-11); build metadata is ignored.
package etcdversion

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Version is a parsed etcd version. The zero value is not a valid version.
type Version struct {
	Major, Minor, Patch int
	Pre                 string // pre-release without the leading '-', "" for a release
}

// Parse reads one version string. It returns an error naming the input when
// it is not major.minor[.patch][-pre][+build] with non-negative numbers.
func Parse(s string) (Version, error) {
	orig := s
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "etcd ") // etcd 2.0's plain-text /version
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	var v Version
	if i := strings.IndexByte(s, '-'); i >= 0 {
		v.Pre = s[i+1:]
		s = s[:i]
		if !validPre(v.Pre) {
			return Version{}, fmt.Errorf("version %q: bad pre-release %q", orig, v.Pre)
		}
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("version %q: want major.minor[.patch]", orig)
	}
	nums := [3]int{}
	for i, p := range parts {
		n, err := number(p)
		if err != nil {
			return Version{}, fmt.Errorf("version %q: %w", orig, err)
		}
		nums[i] = n
	}
	v.Major, v.Minor, v.Patch = nums[0], nums[1], nums[2]
	return v, nil
}

func number(p string) (int, error) {
	if p == "" || strings.TrimLeft(p, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", p)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", p)
	}
	return n, nil
}

func validPre(pre string) bool {
	for _, id := range strings.Split(pre, ".") {
		if id == "" {
			return false
		}
		for _, r := range id {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// Compare orders v and w by semver precedence: -1, 0 or +1.
func (v Version) Compare(w Version) int {
	if c := cmp.Compare(v.Major, w.Major); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Minor, w.Minor); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Patch, w.Patch); c != 0 {
		return c
	}
	return comparePre(v.Pre, w.Pre)
}

// comparePre applies semver's rules: a release outranks any pre-release;
// numeric identifiers compare as numbers and rank below alphanumeric ones;
// a shorter list that is a prefix of a longer one ranks lower.
func comparePre(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < min(len(as), len(bs)); i++ {
		x, y := as[i], bs[i]
		xn, xerr := strconv.ParseUint(x, 10, 64)
		yn, yerr := strconv.ParseUint(y, 10, 64)
		var c int
		switch {
		case xerr == nil && yerr == nil:
			c = cmp.Compare(xn, yn)
		case xerr == nil:
			c = -1
		case yerr == nil:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}

// Less reports whether v orders before w.
func (v Version) Less(w Version) bool { return v.Compare(w) < 0 }

// AtLeast reports whether v's major.minor is at least major.minor; a
// pre-release of a minor counts as that minor (3.6.0-rc.1 runs 3.6 code).
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// SameMinor reports whether v and w share major.minor.
func (v Version) SameMinor(w Version) bool { return v.Major == w.Major && v.Minor == w.Minor }

// MajorMinor is "3.5" for 3.5.35: the unit etcd upgrades one step at a time
// and the form of the cluster version.
func (v Version) MajorMinor() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// String is "3.6.0-rc.1" (no "v", no build metadata).
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// Compare orders two version strings for display and drift: parsable
// versions by semver precedence, then (for equal precedence, such as "v3.5.1"
// and "3.5.1+x") by text so the order is total; an unparsable string sorts
// after every version, by text.
func Compare(a, b string) int {
	va, erra := Parse(a)
	vb, errb := Parse(b)
	switch {
	case erra == nil && errb == nil:
		if c := va.Compare(vb); c != 0 {
			return c
		}
	case erra == nil:
		return -1
	case errb == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// AtLeast reports whether the version string s parses and is at least
// major.minor; an unparsable version is not.
func AtLeast(s string, major, minor int) bool {
	v, err := Parse(s)
	return err == nil && v.AtLeast(major, minor)
}
