# METADATA
# description: >-
#   Version helpers shared by the controls. etcd versions compare
#   semantically (3.4.10 > 3.4.9); a minor line is "major.minor"; distances
#   between lines follow data.etcdaudit.upgrade.path so 2.3 -> 3.0 is one hop.
package etcdaudit.lib.versions

# norm strips a leading "v" so "v3.5.1" and "3.5.1" compare alike.
norm(v) := trim_prefix(trim_space(v), "v")

# valid holds for a full semantic version ("3.5.35", "3.6.0-rc.1").
valid(v) if semver.is_valid(norm(v))

# compare is -1, 0 or 1; undefined when either side is not a valid version.
compare(a, b) := semver.compare(norm(a), norm(b)) if {
	valid(a)
	valid(b)
}

# line("3.5.35") = "3.5".
line(v) := concat(".", [p[0], p[1]]) if {
	p := split(norm(v), ".")
	count(p) >= 2
}

# line_index is the position of a minor line on the upgrade path.
line_index(l) := i if {
	some i, x in data.etcdaudit.upgrade.path
	x == l
}

# hops between two minor lines: along the upgrade path when both are on it,
# else by minor number within one major, else a large number.
hops(a, b) := abs(line_index(a) - line_index(b))

hops(a, b) := abs(to_number(pb[1]) - to_number(pa[1])) if {
	not line_index(a)
	pa := split(a, ".")
	pb := split(b, ".")
	pa[0] == pb[0]
} else := abs(to_number(pb[1]) - to_number(pa[1])) if {
	not line_index(b)
	pa := split(a, ".")
	pb := split(b, ".")
	pa[0] == pb[0]
}

# lowest returns the lowest valid version of a list, undefined when none.
lowest(vs) := v if {
	some v in vs
	valid(v)
	not _lower_exists(v, vs)
}

_lower_exists(v, vs) if {
	some w in vs
	valid(w)
	compare(w, v) < 0
}

# num formats a number with at most one decimal ("17.6", "99", "-3"), since
# sprintf's %f does not accept Rego integers.
num(x) := sprintf("%v", [round(x * 10) / 10])
