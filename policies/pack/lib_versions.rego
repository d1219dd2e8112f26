# METADATA
# description: >-
#   Version helpers shared by the controls. etcd versions compare by semver
#   precedence (3.4.10 > 3.4.9, 3.6.0-rc.1 < 3.6.0: OPA's semver builtins,
#   https://semver.org/#spec-item-11); a minor line is "major.minor"; distances
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

# core("3.6.0-rc.1+b") = [3, 6, 0]: the release numbers, pre-release and
# build dropped; undefined unless v is valid.
core(v) := [to_number(p[0]), to_number(p[1]), to_number(p[2])] if {
	valid(v)
	p := split(split(split(v, "+")[0], "-")[0], ".")
}

# major("3.5.35") = 3.
major(v) := core(v)[0]

# at_least(v, 3, 6) holds when v runs the 3.6 line or a later one. A
# pre-release counts as its line: 3.6.0-rc.1 runs 3.6 code (no v2 API).
at_least(v, maj, min) if array.slice(core(v), 0, 2) >= [maj, min]

# at_least_patch(v, 3, 5, 18) holds from 3.5.18 on (3.5.18-rc.0 included).
at_least_patch(v, maj, min, patch) if core(v) >= [maj, min, patch]

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

# lowest returns the lowest valid version of a list by semver precedence
# (3.6.0-rc.1 before 3.6.0), undefined when none; of versions that rank
# equal (build metadata differs), the first by text.
lowest(vs) := min({v |
	some v in vs
	valid(v)
	not lower_in(v, vs)
})

lower_in(v, vs) if {
	some w in vs
	compare(w, v) < 0
}

# num formats a number with at most one decimal ("17.6", "99", "-3"), since
# sprintf's %f does not accept Rego integers.
num(x) := sprintf("%v", [round(x * 10) / 10])
