package checks

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

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

// checkRetention applies the retention limits: the oldest events are
// removed, later ones the limits drop (non-AUDIT_LOG events among kept
// AUDIT_LOG ones) are redacted, under a retention record in the chain. The
// run's audit event names the record and says what was done.
func (s *Scheduler) checkRetention(ctx context.Context, now time.Time) (Report, error) {
	if s.cfg.Retention == 0 && s.cfg.RetentionAudit == 0 {
		return Report{Summary: "retention is off: events are kept forever"}, nil
	}
	var p store.RetentionPolicy
	details := map[string]any{}
	if s.cfg.Retention > 0 {
		p.Cutoff = now.Add(-s.cfg.Retention)
		details["cutoff"] = p.Cutoff.UTC().Format(time.RFC3339)
	}
	if s.cfg.RetentionAudit > 0 {
		p.AuditCutoff = now.Add(-s.cfg.RetentionAudit)
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
