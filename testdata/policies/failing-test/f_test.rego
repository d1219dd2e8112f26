package etcdaudit.controls.versions.known_bad_failing_test

import data.etcdaudit.controls.versions.known_bad as c

# Wrong on purpose: 3.4.23 is affected, so this test fails.
test_expect_wrong if count(c.deny) == 0 with input as {"member": {"version": {"server": "3.4.23"}}}
