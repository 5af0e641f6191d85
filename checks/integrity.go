package checks

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"vigil/model"
	"vigil/store"
)

// checkCheckpoint signs the current tree head and sends a copy off the
// box: to the webhook and, if configured, to a remote syslog receiver.
func (s *Scheduler) checkCheckpoint(ctx context.Context, now time.Time) (Report, error) {
	cp, err := s.st.CreateCheckpoint(ctx, s.cfg.CheckpointKey)
	if err != nil {
		return Report{}, err
	}
	details := map[string]any{"tree_size": cp.Size, "root_hash": hex.EncodeToString(cp.Root), "checkpoint_id": cp.ID}
	if err := s.notifier.PublishCheckpoint(ctx, cp, s.cfg.CheckpointSyslog, now); err != nil {
		details["syslog_error"] = err.Error()
		return Report{Summary: fmt.Sprintf("signed a checkpoint of %d events; sending it to %s failed", cp.Size, s.cfg.CheckpointSyslog), Details: details}, err
	}
	if s.cfg.CheckpointSyslog != "" {
		details["sent_to_syslog"] = s.cfg.CheckpointSyslog
	}
	return Report{Summary: fmt.Sprintf("signed a checkpoint of %d events", cp.Size), Details: details}, nil
}

// checkRetention applies the retention rules (--retention, --retention-audit
// and those set in Settings) and the legal holds: the oldest events are
// removed, later ones the rules drop are redacted, under a retention record
// in the chain that states every rule and hold. The run's audit event names
// the record and says what was done.
func (s *Scheduler) checkRetention(ctx context.Context, now time.Time) (Report, error) {
	rules, err := s.st.RulesInForce(ctx, s.cfg.Retention, s.cfg.RetentionAudit)
	if err != nil {
		return Report{}, err
	}
	if !slices.ContainsFunc(rules, func(r model.RetentionRule) bool { return r.Keep > 0 }) {
		return Report{Summary: "retention is off: events are kept forever"}, nil
	}
	holds, err := s.st.LegalHolds(ctx)
	if err != nil {
		return Report{}, err
	}
	p := store.PolicyAt(now, rules, holds)
	details := map[string]any{"rules": len(rules), "legal_holds": len(holds)}
	if !p.Cutoff.IsZero() {
		details["cutoff"] = p.Cutoff.UTC().Format(time.RFC3339)
	}
	if !p.AuditCutoff.IsZero() {
		details["audit_cutoff"] = p.AuditCutoff.UTC().Format(time.RFC3339)
	}
	res, err := s.st.ApplyRetention(ctx, p)
	details["removed"] = res.Removed
	details["redacted"] = res.Redacted
	details["chain_base_id"] = res.BaseID
	details["chain_base_hash"] = hex.EncodeToString(res.BaseHash)
	if res.RecordID > 0 {
		details["retention_record"] = res.RecordID
		details["last_removed_id"] = res.LastID
		details["last_removed_hash"] = hex.EncodeToString(res.LastHash)
	}
	if res.Removed > 0 {
		details["first_removed_id"] = res.FirstID
	}
	if err != nil {
		return Report{Summary: fmt.Sprintf("removed %d and redacted %d events before failing", res.Removed, res.Redacted), Details: details}, err
	}
	if res.RecordID == 0 {
		return Report{Summary: "nothing to remove or redact", Details: details}, nil
	}
	return Report{Summary: fmt.Sprintf("removed %d events and redacted %d under retention record %d; the chain continues from event %d",
		res.Removed, res.Redacted, res.RecordID, res.BaseID), Details: details}, nil
}
