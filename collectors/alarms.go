package collectors

import (
	"cmp"
	"context"
	"regexp"
	"slices"
	"strconv"
)

func alarmsCollector() Registration {
	return Registration{
		Name:      "alarms",
		Scope:     ScopeMember,
		Help:      "active alarms (NOSPACE, CORRUPT) as this member reports them",
		Collector: CollectorFunc(collectAlarms),
	}
}

// alarmRE matches an alarm in Maintenance.Status errors, which etcd fills
// with each AlarmMember's proto text ("memberID:123 alarm:NOSPACE ").
var alarmRE = regexp.MustCompile(`(?i)member_?id:\s*(\d+)\s+alarm:\s*([A-Z_]+)`)

// collectAlarms reads alarms from Maintenance.Status, not from the Alarm
// RPC: on 3.4–3.7 an AlarmList is a raft proposal (it appends an entry to
// the log), and a scan must write nothing.
func collectAlarms(ctx context.Context, t *Target) error {
	st, err := memberStatus(ctx, t.Member)
	if err != nil {
		return err
	}
	t.Member.Facts.Alarms = parseAlarms(st.Errors)
	return nil
}

func parseAlarms(errs []string) *AlarmFacts {
	f := &AlarmFacts{Alarms: []MemberAlarm{}}
	for _, e := range errs {
		m := alarmRE.FindStringSubmatch(e)
		if m == nil || m[2] == "NONE" {
			continue
		}
		id, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			continue
		}
		f.Alarms = append(f.Alarms, MemberAlarm{MemberID: memberID(id), Alarm: m[2]})
	}
	slices.SortFunc(f.Alarms, func(a, b MemberAlarm) int {
		return cmp.Or(cmp.Compare(a.MemberID, b.MemberID), cmp.Compare(a.Alarm, b.Alarm))
	})
	return f
}
