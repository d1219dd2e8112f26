package etcdversion

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
	}{
		{"3.5.35", Version{3, 5, 35, ""}},
		{"v3.6.0-rc.1", Version{3, 6, 0, "rc.1"}},
		{" 3.7.0-alpha.0+git.abc ", Version{3, 7, 0, "alpha.0"}},
		{"3.5", Version{3, 5, 0, ""}},
		{"etcd 2.0.13", Version{2, 0, 13, ""}},
		{"etcd v2.0.9\n", Version{2, 0, 9, ""}},
		{"3.4.0-x-y", Version{3, 4, 0, "x-y"}},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "3", "3.x.1", "3.5.1.2", "-1.2.3", "3.5.-1", "3.5.0-", "3.5.0-rc..1",
		"3.5.0-rc_1", "99999999999999999999.0.0", "not-a-version", "3.5.\x1b[31m"} {
		if v, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", bad, v)
		}
	}
}

func TestCompareSemverOrder(t *testing.T) {
	// Ascending, from semver.org's precedence example plus etcd's own tags.
	ordered := []string{
		"2.0.13", "2.3.8", "3.0.0-alpha", "3.0.0-alpha.1", "3.0.0-alpha.beta", "3.0.0-beta",
		"3.0.0-beta.2", "3.0.0-beta.11", "3.0.0-rc.1", "3.0.0", "3.4.9", "3.4.23",
		"3.6.0-alpha.0", "3.6.0-rc.1", "3.6.0-rc.10", "3.6.0", "3.6.16", "3.10.0",
	}
	for i := range ordered {
		for j := range ordered {
			a, b := ordered[i], ordered[j]
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := Compare(a, b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func TestCompareStrings(t *testing.T) {
	in := []string{"garbage", "3.6.0", "v3.5.1", "3.6.0-rc.1", "", "3.5.1"}
	slices.SortFunc(in, Compare)
	want := []string{"3.5.1", "v3.5.1", "3.6.0-rc.1", "3.6.0", "", "garbage"}
	if !slices.Equal(in, want) {
		t.Fatalf("sorted %q, want %q", in, want)
	}
}

func TestAtLeastAndMinor(t *testing.T) {
	for _, tc := range []struct {
		v            string
		major, minor int
		want         bool
	}{
		{"3.6.16", 3, 6, true}, {"3.7.0-alpha.0", 3, 6, true}, {"3.6.0-rc.1", 3, 6, true},
		{"3.5.35", 3, 6, false}, {"4.0.0", 3, 9, true}, {"2.3.8", 3, 0, false}, {"junk", 0, 0, false},
	} {
		if got := AtLeast(tc.v, tc.major, tc.minor); got != tc.want {
			t.Errorf("AtLeast(%s, %d.%d) = %v", tc.v, tc.major, tc.minor, got)
		}
	}
	a, _ := Parse("3.5.35")
	b, _ := Parse("v3.5.0-rc.0")
	if !a.SameMinor(b) || a.MajorMinor() != "3.5" || b.String() != "3.5.0-rc.0" || !b.Less(a) {
		t.Fatalf("minor helpers wrong: %v %v", a, b)
	}
}
