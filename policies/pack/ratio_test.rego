# Tests of lib_ratio.rego; not named lib_* so that --no-builtin runs only the
# user's tests (it still loads the libraries themselves).
package etcdaudit.lib.ratio_test

import data.etcdaudit.lib.ratio

test_exceeds_at_and_over_the_threshold if {
	not ratio.exceeds(800, 1000, 0.8)
	ratio.exceeds(801, 1000, 0.8)
	not ratio.exceeds(1717986918, 2147483648, 0.8)
	ratio.exceeds(1717986919, 2147483648, 0.8)
	not ratio.exceeds(250, 1000, 0.25)
	ratio.exceeds(251, 1000, 0.25)
}

# Where OPA's arithmetic is off: 1 - 960/1000 > 0.04 holds in OPA, while
# the share 40/1000 is exactly 0.04.
test_exceeds_exact_where_arithmetic_is_not if {
	1 - (960 / 1000) > 0.04
	not ratio.exceeds(1000 - 960, 1000, 0.04)
	ratio.exceeds(1000 - 959, 1000, 0.04)
}

test_exceeds_exponent_threshold_falls_back if {
	not ratio.exceeds(800, 1000, 8e-1)
	ratio.exceeds(801, 1000, 8e-1)
	not ratio.exceeds(800, 1001, 8e-1)
	ratio.exceeds(801, 1001, 8e-1)
}

test_exceeds_needs_a_positive_whole if {
	not ratio.exceeds(1, 0, 0.5)
	not ratio.exceeds(0, 0, 0)
	not ratio.exceeds(1, -10, 0.5)
}

test_scale_decimals if {
	ratio.scale(0.8) == [8, 10]
	ratio.scale(0.95) == [95, 100]
	ratio.scale(1) == [1, 1]
	ratio.scale(0) == [0, 1]
	ratio.scale(-0.25) == [-25, 100]
	ratio.scale(0.1234567) == [1234567, 10000000]
}

test_scale_undefined_for_exponents_and_non_numbers if {
	not ratio.scale(1e-7)
	not ratio.scale("0.8")
	not ratio.scale(null)
}
