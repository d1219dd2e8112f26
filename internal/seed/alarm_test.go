package seed_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/etcdaudit/etcdaudit/internal/etcdtest"
	"github.com/etcdaudit/etcdaudit/internal/seed"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestRaiseAlarm(t *testing.T) {
	for _, v := range []string{"3.4", "3.7", etcdtest.Embed} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			c := etcdtest.NewCluster(t, etcdtest.WithVersion(v))
			cli := c.Client(t)
			ctx := testCtx(t)
			st, err := cli.Status(ctx, c.Endpoints()[0])
			if err != nil {
				t.Fatal(err)
			}
			id := st.Header.MemberId
			if err := seed.RaiseAlarm(ctx, cli, id, pb.AlarmType_NOSPACE); err != nil {
				t.Fatal(err)
			}
			list, err := cli.AlarmList(ctx)
			if err != nil || len(list.Alarms) != 1 || list.Alarms[0].Alarm != pb.AlarmType_NOSPACE || list.Alarms[0].MemberID != id {
				t.Fatalf("alarms = %+v, %v", list, err)
			}
			if _, err := cli.Put(ctx, "/k", "v"); !errors.Is(err, rpctypes.ErrNoSpace) {
				t.Fatalf("put under NOSPACE: %v, want %v", err, rpctypes.ErrNoSpace)
			}
			st, err = cli.Status(ctx, c.Endpoints()[0])
			if err != nil || !strings.Contains(strings.Join(st.Errors, " "), "NOSPACE") {
				t.Fatalf("status errors %q (%v), want NOSPACE", st.Errors, err)
			}
			if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: id, Alarm: pb.AlarmType_NOSPACE}); err != nil {
				t.Fatal(err)
			}
			if _, err := cli.Put(ctx, "/k", "v"); err != nil {
				t.Fatalf("put after disarm: %v", err)
			}
		})
	}
}
