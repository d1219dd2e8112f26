package etcdaudit.controls.site.naming_test

import data.etcdaudit.controls.site.naming as c

test_pass if count(c.deny) == 0 with input as {"member": {"name": "etcd-0", "version": {"server": "3.6.0"}}} with data.etcdaudit.site.min_version as "3.5.0"

test_fail_name if count(c.deny) == 1 with input as {"member": {"name": "node7", "version": {"server": "3.6.0"}}} with data.etcdaudit.site.min_version as "3.5.0"
