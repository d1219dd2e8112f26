# Tests of lib_ratio.rego; not named lib_* so that --no-builtin runs only the
# user's tests (it still loads the libraries themselves).
package etcdaudit.lib.ratio_test

import data.etcdaudit.lib.ratio

test_scale_decimals if {
	ratio.scale(0.8) == [8, 10]
	ratio.scale(0.95) == [95, 100]
	ratio.scale(0.5) == [5, 10]
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

test_floor_div_exact if {
	ratio.floor_div(17179869184, 10) == 1717986918
	ratio.floor_div(20, 10) == 2
	ratio.floor_div(19, 10) == 1
	ratio.floor_div(-1, 10) == -1
	ratio.floor_div(0, 100) == 0
	not ratio.floor_div(5, 0)
}
