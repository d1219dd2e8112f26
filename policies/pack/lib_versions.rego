# METADATA
# description: >-
#   Version helpers shared by the controls. etcd versions compare
#   semantically (3.4.10 > 3.4.9); a minor line is "major.minor"; distances
#   between lines follow data.etcdaudit.upgrade.path so 2.3 -> 3.0 is one hop.
#   They run for every member judged, so each is a few builtin calls and
#   lookups, never a scan.
package etcdaudit.lib.versions

# valid holds for a full semantic version ("3.5.35", "3.6.0-rc.1").
valid(v) if semver.is_valid(v)

# compare is -1, 0 or 1; undefined when either side is not a valid version
# (a builtin error is undefined), which controls treat as "cannot judge".
compare(a, b) := semver.compare(a, b)

# line("3.5.35") = "3.5".
line(v) := concat(".", array.slice(split(v, "."), 0, 2))

# triple("3.5.35") = [3, 5, 35]: arrays of numbers compare element-wise, so
# min/max over triples find the lowest/highest version.
triple(v) := [to_number(p[0]), to_number(p[1]), to_number(split(p[2], "-")[0])] if {
	p := split(v, ".")
}

# index is each minor line's position on the upgrade path.
index := {l: i | some i, l in data.etcdaudit.upgrade.path}

# line_index is the position of a minor line on the upgrade path.
line_index(l) := index[l]

# hops between two minor lines: along the upgrade path when both are on it,
# else by minor number within one major; undefined across majors off-path.
hops(a, b) := abs(index[a] - index[b]) if {
	index[a]
	index[b]
} else := abs(to_number(pb[1]) - to_number(pa[1])) if {
	pa := split(a, ".")
	pb := split(b, ".")
	pa[0] == pb[0]
}

# lowest returns the lowest valid version of a list, undefined when none.
lowest(vs) := min({[triple(v), v] | some v in vs; valid(v)})[1]

# num formats a number with at most one decimal ("17.6", "99", "-3"), since
# sprintf's %f does not accept Rego integers.
num(x) := sprintf("%v", [round(x * 10) / 10])
