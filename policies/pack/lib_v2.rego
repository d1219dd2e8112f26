# METADATA
# description: >-
#   The v2 -> v3 steps that exist on a member's version, for the messages of
#   the v2 and Kubernetes backend controls. Facts, with their sources:
#   `etcdctl migrate` (offline v2 -> v3 copy) exists in etcdctl 3.0-3.4 and
#   was removed in 3.5 (etcd CHANGELOG-3.5, etcd-io/etcd#12971); it copies
#   TTL keys without a lease (etcd v3.4 etcdctl/ctlv3/command/migrate_command.go,
#   etcd-io/etcd#8305). A data dir with v2 data but no v3 data makes 3.2+
#   panic (etcd-io/etcd#9480), so 2.x data is migrated on 3.0 or 3.1.
#   `--enable-v2` defaults to true in 3.2-3.3 and to false from 3.4 and is
#   removed in 3.6 ("flag provided but not defined"); 3.6 refuses to start
#   on a v2 store holding anything but membership
#   (https://etcd.io/blog/2025/announcing-etcd-3.6/). `etcdutl check v2store
#   --data-dir` (member stopped) finds such data from 3.5.18
#   (etcd-io/etcd#19113) and also reads the WAL from 3.5.32
#   (etcd-io/etcd#21889). A 3.5 member's newest snapshot must be past the
#   v2 deletion before the 3.6 hop: restart without --enable-v2 with a low
#   --snapshot-count and write enough keys
#   (https://etcd.io/docs/v3.6/upgrades/upgrade_3_6/).
package etcdaudit.lib.v2

import data.etcdaudit.lib.versions

# copy(v) says how the v2 keys reach v3 on a member running v ("" or an
# unparsable v: every version's way).
copy(v) := "the v2 -> v3 copy needs etcd 3.0 or 3.1: upgrade one minor at a time (2.2 -> 2.3 -> 3.0), then, every member stopped, run `ETCDCTL_API=3 etcdctl migrate --data-dir <data-dir>` on each before any 3.2 (3.2+ panics on a data dir without v3 data, etcd#9480)" if {
	versions.major(v) == 2
} else := "with every member stopped and their raft indexes equal, run `ETCDCTL_API=3 etcdctl migrate --data-dir <data-dir>` on each (etcdctl 3.0–3.4; it copies TTL keys without a lease)" if {
	versions.at_least(v, 3, 0)
	not versions.at_least(v, 3, 5)
} else := "`etcdctl migrate` was removed in 3.5 (etcd#12971): with the writers stopped, copy the keys through the APIs — read them from /v2/keys (the member needs --enable-v2), create each in v3 only where absent (a transaction on create revision 0), and put keys that had a TTL under a lease" if {
	versions.at_least(v, 3, 5)
	not versions.at_least(v, 3, 6)
} else := sprintf("etcd %s has no v2 API (removed in 3.6): the v2 data can be read only by a 3.5 member started with --enable-v2", [v]) if {
	versions.at_least(v, 3, 6)
} else := "copy the keys with `ETCDCTL_API=3 etcdctl migrate` (offline, etcdctl 3.0–3.4) or, from 3.5 on, through the v2 and v3 APIs"

# delete(v) says how the v2 copy is removed once v3 holds the data.
delete(v) := "delete the v2 copy once on 3.x (`ETCDCTL_API=2 etcdctl rm --recursive <dir>`)" if {
	versions.major(v) == 2
} else := "delete the v2 copy (`ETCDCTL_API=2 etcdctl rm --recursive <dir>`)"

# v2_off(v) says how the v2 API is turned off on v (a release before 3.2
# cannot turn it off).
v2_off(v) := "restart it with --enable-v2=false (3.2 and 3.3 serve v2 unless told not to)" if {
	versions.at_least(v, 3, 2)
	not versions.at_least(v, 3, 4)
} else := "restart it without --enable-v2 (off by default from 3.4)" if {
	versions.at_least(v, 3, 4)
	not versions.at_least(v, 3, 6)
}

# before_3_6(v) is what a member on v must do about v2 before the 3.6 hop.
before_3_6(v) := sprintf("then %s, restart every member without --enable-v2 with --snapshot-count=5 and write at least 12 keys so each member's newest snapshot is past the deletion, and confirm with %s", [delete(v), check(v)]) if {
	versions.at_least(v, 3, 5)
	not versions.at_least(v, 3, 6)
} else := sprintf("then %s; on 3.5, before the 3.6 hop, restart every member without --enable-v2 with --snapshot-count=5, write at least 12 keys and confirm with `etcdutl check v2store` (3.5.18+)", [delete(v)])

# check(v) names the offline check of a data dir's v2 store: it exists
# from etcdutl 3.5.18, and a member before 3.5 is checked once it runs 3.5.
check(v) := "`etcdutl check v2store --data-dir <data-dir>` on each stopped member (3.5.32+ also reads the WAL)" if {
	versions.at_least_patch(v, 3, 5, 18)
} else := sprintf("`etcdutl check v2store --data-dir <data-dir>` on each stopped member, with an etcdutl of 3.5.18 or later (%s's lacks it)", [v]) if {
	versions.at_least(v, 3, 5)
} else := "`etcdutl check v2store --data-dir <data-dir>` (etcdutl 3.5.18+) on each stopped member once it runs 3.5"
