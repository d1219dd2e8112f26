package seed

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// RaiseAlarm activates an alarm (pb.AlarmType_NOSPACE or pb.AlarmType_CORRUPT)
// for one member, as the server does when its quota is exhausted or a
// corruption check fails, so tests can meet a fleet in that state without
// filling a disk or corrupting a database. clientv3 only disarms alarms; the
// Alarm RPC itself also activates them. `cli.AlarmDisarm` clears it again.
// While NOSPACE is active the cluster refuses writes.
func RaiseAlarm(ctx context.Context, cli *clientv3.Client, memberID uint64, alarm pb.AlarmType) error {
	_, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Alarm(ctx, &pb.AlarmRequest{
		Action:   pb.AlarmRequest_ACTIVATE,
		MemberID: memberID,
		Alarm:    alarm,
	})
	if err != nil {
		return fmt.Errorf("raise %s alarm on member %x: %w", alarm, memberID, err)
	}
	return nil
}
