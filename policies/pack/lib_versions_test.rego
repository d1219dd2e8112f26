package etcdaudit.lib.versions_test

import data.etcdaudit.lib.versions

test_lowest_orders_pre_releases_before_their_release if {
	versions.lowest(["3.6.0", "3.6.0-rc.1"]) == "3.6.0-rc.1"
	versions.lowest(["3.6.0-rc.1", "3.6.0"]) == "3.6.0-rc.1"
	versions.lowest(["3.6.0-rc.10", "3.6.0-rc.2"]) == "3.6.0-rc.2"
	versions.lowest(["3.6.0-alpha.0", "3.6.0-rc.0", "3.5.35"]) == "3.5.35"
}

test_lowest_is_numeric if {
	versions.lowest(["3.10.0", "3.9.1"]) == "3.9.1"
	versions.lowest(["3.4.10", "3.4.9", "3.4.9"]) == "3.4.9"
}

test_lowest_skips_invalid if {
	versions.lowest(["garbage", "3.5.1", ""]) == "3.5.1"
	not versions.lowest(["garbage", ""])
	not versions.lowest([])
}

test_at_least_counts_a_pre_release_as_its_line if {
	versions.at_least("3.6.0-rc.1", 3, 6)
	versions.at_least("3.10.0", 3, 6)
	versions.at_least("4.0.0", 3, 9)
	not versions.at_least("3.5.35", 3, 6)
	not versions.at_least("2.3.8", 3, 0)
	not versions.at_least("junk", 0, 0)
}

test_at_least_patch if {
	versions.at_least_patch("3.5.18", 3, 5, 18)
	versions.at_least_patch("3.5.18-rc.0+b", 3, 5, 18)
	versions.at_least_patch("3.6.0", 3, 5, 18)
	not versions.at_least_patch("3.5.17", 3, 5, 18)
	versions.major("2.3.8") == 2
}
