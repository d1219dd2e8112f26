# METADATA
# description: >-
#   Exact threshold tests that stay cheap for every member. OPA 1.20 does
#   non-integer arithmetic in arbitrary precision and compares unequal
#   non-integers through exact rationals, which cost more than the rest of a
#   member's judgement; integers it multiplies with big.Int (no rounding, no
#   decimal formatting) and compares in int64.
#   A decimal threshold t is written once as n/d (integers, d a power of
#   ten), so a/b > t becomes the integer test a*d > n*b (b > 0).
package etcdaudit.lib.ratio

# scale(t) is [n, d] with t = n/d exactly, for a number written as a plain
# decimal ("0.8", "1", "-0.25"). It is undefined for exponent forms and for
# more digits than a 64-bit mantissa carries exactly; callers then fall
# back to OPA's own (slower) arithmetic. n = round(t*d) is exact: t*d is an
# integer, and the float product is off by far less than 1/2.
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

# floor_div(a, d) is the integer floor(a/d) for integers a and d > 0,
# exact: the float quotient only picks the candidates, integer products
# decide. Undefined if the float quotient is off by more than 1 (numbers
# beyond 2^64), so callers fall back.
floor_div(a, d) := max(ls) if {
	d > 0
	c := floor(a / d)
	ls := {l | some l in [c - 1, c, c + 1]; l * d <= a}
	count(ls) > 0
	(max(ls) + 1) * d > a
}
