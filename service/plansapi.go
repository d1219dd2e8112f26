package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/etcdaudit/etcdaudit/remediate"
)

type planList struct {
	Plans        []PlanRecord            `json:"plans"`
	AutoDisabled map[string]AutoDisabled `json:"auto_disabled"`
}

func (s *Server) remediationOff(w http.ResponseWriter) bool {
	if s.rem == nil {
		writeErr(w, http.StatusNotFound, "remediation is off: start serve with --remediate")
		return true
	}
	return false
}

// handleListPlans lists serve's plans, newest first (?status=waiting to
// filter), each with its text and gate reason, and the clusters whose auto
// remediation is disabled.
func (s *Server) handleListPlans(w http.ResponseWriter, r *http.Request) {
	if s.remediationOff(w) {
		return
	}
	recs, ad := s.rem.snapshot()
	want := r.URL.Query().Get("status")
	out := planList{Plans: []PlanRecord{}, AutoDisabled: ad}
	for _, p := range recs {
		if want != "" && p.Status != want {
			continue
		}
		p.Plan = nil // the text says it; GET /api/plans/ID has the JSON
		out.Plans = append(out.Plans, p)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetPlan(w http.ResponseWriter, r *http.Request) {
	if s.remediationOff(w) {
		return
	}
	recs, _ := s.rem.snapshot()
	for _, p := range recs {
		if p.ID == r.PathValue("id") {
			if r.URL.Query().Get("format") == "text" {
				writeText(w, http.StatusOK, p.Text)
				return
			}
			writeJSON(w, http.StatusOK, p)
			return
		}
	}
	writeErr(w, http.StatusNotFound, "no plan %q", r.PathValue("id"))
}

// decisionBody is what approve, reject and the auto reset take.
type decisionBody struct {
	Approver string `json:"approver"`
	Reason   string `json:"reason,omitempty"`
}

// readDecision reads {"approver": NAME, "reason": TEXT}: the name goes into
// the journal, so it is required, short and printable.
func readDecision(r *http.Request) (decisionBody, error) {
	var d decisionBody
	b, err := io.ReadAll(io.LimitReader(r.Body, 4097))
	if err != nil {
		return d, fmt.Errorf("body: %w", err)
	}
	if len(b) > 4096 {
		return d, errors.New("body: more than 4096 bytes")
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf(`body: want {"approver": "your name", "reason": "..."}: %w`, err)
	}
	d.Approver, d.Reason = strings.TrimSpace(d.Approver), strings.TrimSpace(d.Reason)
	if d.Approver == "" || len(d.Approver) > 100 || strings.IndexFunc(d.Approver, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0 {
		return d, errors.New(`approver: give your name (1 to 100 printable characters): it is recorded in the journal`)
	}
	if len(d.Reason) > 1000 || strings.IndexFunc(d.Reason, unicode.IsControl) >= 0 {
		return d, errors.New("reason: at most 1000 characters, no control characters")
	}
	return d, nil
}

// handleDecidePlan approves or rejects a waiting plan. An approval first
// compares the plan's fingerprint with the live cluster: a plan the fleet
// moved away from expires and the approval is refused (409).
func (s *Server) handleDecidePlan(w http.ResponseWriter, r *http.Request) {
	if s.remediationOff(w) || !s.authorized(w, r, "plan approvals") {
		return
	}
	d, err := readDecision(r)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
		return
	}
	id := r.PathValue("id")
	approve := strings.HasSuffix(r.URL.Path, "/approve")
	recs, _ := s.rem.snapshot()
	var rec *PlanRecord
	for i := range recs {
		if recs[i].ID == id {
			rec = &recs[i]
		}
	}
	switch {
	case rec == nil:
		writeErr(w, http.StatusNotFound, "no plan %q", id)
		return
	case rec.Status != PlanWaiting:
		writeErr(w, http.StatusConflict, "plan %s is %s, not waiting%s", id, rec.Status, prefixed(": ", rec.StatusReason))
		return
	}
	now := s.cfg.Now().UTC()
	if !approve {
		out, err := s.rem.update(id, func(p *PlanRecord) error {
			if p.Status != PlanWaiting {
				return fmt.Errorf("plan %s is %s, not waiting", id, p.Status)
			}
			p.Status, p.Approver, p.Updated = PlanRejected, d.Approver, now
			p.StatusReason = "rejected by " + d.Approver + prefixed(": ", d.Reason)
			return nil
		})
		if err != nil {
			writeErr(w, http.StatusConflict, "%v", err)
			return
		}
		s.log.Info("remediation: plan rejected", "plan", id, "cluster", out.Cluster, "by", d.Approver, "reason", d.Reason)
		writeJSON(w, http.StatusOK, out)
		return
	}
	if err := s.checkStale(r.Context(), rec); err != nil {
		if errors.Is(err, remediate.ErrStalePlan) {
			out, _ := s.rem.update(id, func(p *PlanRecord) error {
				if p.Status == PlanWaiting {
					p.Status, p.Updated, p.StatusReason = PlanExpired, now, "approval by "+d.Approver+" refused: "+err.Error()
				}
				return nil
			})
			s.log.Warn("remediation: approval of a stale plan refused; the plan expired", "plan", id, "by", d.Approver, "err", err)
			writeJSON(w, http.StatusConflict, struct {
				Error string     `json:"error"`
				Plan  PlanRecord `json:"plan"`
			}{"approval refused: " + err.Error(), out})
			return
		}
		writeErr(w, http.StatusServiceUnavailable, "cannot check the plan against the fleet now (the plan still waits): %v", err)
		return
	}
	out, err := s.rem.update(id, func(p *PlanRecord) error {
		if p.Status != PlanWaiting {
			return fmt.Errorf("plan %s is %s, not waiting", id, p.Status)
		}
		p.Status, p.Approver, p.Updated = PlanApproved, d.Approver, now
		p.StatusReason = "approved by " + d.Approver + prefixed(": ", d.Reason)
		return nil
	})
	if err != nil {
		writeErr(w, http.StatusConflict, "%v", err)
		return
	}
	s.log.Info("remediation: plan approved", "plan", id, "cluster", out.Cluster, "by", d.Approver)
	s.runApprovedLater() // or, when a scan or run holds the slot, right after it
	writeJSON(w, http.StatusAccepted, out)
}

// checkStale compares a plan's fingerprint with its cluster's live facts.
func (s *Server) checkStale(ctx context.Context, rec *PlanRecord) error {
	p, err := remediate.DecodePlan(rec.Plan)
	if err != nil || len(p.Clusters) != 1 {
		return fmt.Errorf("plan %s: %v", rec.ID, err)
	}
	eng, err := s.rem.r.Engine(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return eng.CheckFingerprint(ctx, &p.Clusters[0])
}

// handleEnableAuto clears a cluster's auto-disabled mark (a person checked
// the failed run).
func (s *Server) handleEnableAuto(w http.ResponseWriter, r *http.Request) {
	if s.remediationOff(w) || !s.authorized(w, r, "auto resets") {
		return
	}
	d, err := readDecision(r)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
		return
	}
	name := r.PathValue("name")
	s.rem.mu.Lock()
	was, ok := s.rem.state.AutoDisabled[name]
	if ok {
		delete(s.rem.state.AutoDisabled, name)
		err = s.rem.saveLocked()
	}
	s.rem.mu.Unlock()
	switch {
	case !ok:
		writeErr(w, http.StatusNotFound, "auto is not disabled for cluster %q", name)
	case err != nil:
		writeErr(w, http.StatusInternalServerError, "%v", err)
	default:
		s.log.Info("remediation: auto enabled again", "cluster", name, "by", d.Approver, "was", was.Reason)
		writeJSON(w, http.StatusOK, map[string]string{"cluster": name, "auto": "enabled", "by": d.Approver})
	}
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}
