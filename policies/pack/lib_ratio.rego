# METADATA
# description: >-
#   exceeds(part, whole, ratio) is part / whole > ratio, exact at the
#   boundary. OPA divides non-integers with a 64-bit mantissa, so a share
#   computed by division can land a hair above a threshold it equals
#   (1 - 960/1000 > 0.04 holds in OPA). Controls that compare a share of
#   two byte counts with a threshold from the baseline call exceeds.
package etcdaudit.lib.ratio

# exceeds(part, whole, ratio) holds when part / whole > ratio. whole must be
# positive (no share of nothing). A ratio written as a plain decimal (0.8,
# 0.95) is compared as the fraction n/d it denotes, in integers:
# part * d > n * whole. Any other number (exponent form) is compared
# through OPA's division.
exceeds(part, whole, ratio) := part * d > n * whole if {
	whole > 0
	[n, d] := scale(ratio)
} else := part / whole > ratio if whole > 0

# scale(t) is [n, d] with t = n/d exactly (d a power of ten), for a number
# written as a plain decimal ("0.8", "1", "-0.25"); undefined for exponent
# forms and for more digits than a 64-bit float carries exactly.
scale(t) := [round(t * d), d] if {
	is_number(t)
	s := json.marshal(t)
	not contains(s, "e")
	not contains(s, "E")
	count(s) <= 17
	d := pow10[frac_digits(s)]
}

frac_digits(s) := count(p[1]) if {
	p := split(s, ".")
	count(p) == 2
} else := 0

pow10 := [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000, 10000000000, 100000000000, 1000000000000, 10000000000000, 100000000000000, 1000000000000000, 10000000000000000]
