package checks

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
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
	cp, tsErr := s.StampCheckpoint(ctx, cp)
	if cp.Timestamp != nil {
		details["timestamp_time"] = cp.Timestamp.Time.UTC().Format(time.RFC3339Nano)
	}
	if tsErr != nil {
		details["timestamp_error"] = tsErr.Error()
	}
	if err := s.notifier.PublishCheckpoint(ctx, cp, s.cfg.CheckpointSyslog, now); err != nil {
		details["syslog_error"] = err.Error()
		return Report{Summary: fmt.Sprintf("signed a checkpoint of %d events; sending it to %s failed", cp.Size, s.cfg.CheckpointSyslog), Details: details}, err
	}
	if s.cfg.CheckpointSyslog != "" {
		details["sent_to_syslog"] = s.cfg.CheckpointSyslog
	}
	if tsErr != nil {
		return Report{Details: details}, fmt.Errorf("signed checkpoint %d of %d events, stored without a trusted time: %w", cp.ID, cp.Size, tsErr)
	}
	return Report{Summary: fmt.Sprintf("signed a checkpoint of %d events", cp.Size), Details: details}, nil
}

// timestampAlertKey is the key of the one TIMESTAMP_FAILED alert: open
// while the time-stamping authority fails.
const timestampAlertKey = "TIMESTAMP_FAILED"

// StampCheckpoint asks the time-stamping authority (--tsa-url) for a token
// over cp and stores it with cp, which it returns stamped. When the TSA
// fails, cp stays stored without a token: a WARN alert says so (once,
// until a later stamp succeeds and resolves it) and the error is
// returned. Without --tsa-url it does nothing.
func (s *Scheduler) StampCheckpoint(ctx context.Context, cp store.StoredCheckpoint) (store.StoredCheckpoint, error) {
	if s.tsa == nil {
		return cp, nil
	}
	ts, err := s.tsa.Stamp(ctx, cp.Note)
	if err == nil {
		err = s.st.AttachTimestamp(context.WithoutCancel(ctx), cp.ID, ts)
	}
	if err != nil {
		s.log.Warn("checkpoint not time-stamped", "checkpoint_id", cp.ID, "err", err)
		if _, aerr := s.raise(context.WithoutCancel(ctx), model.Alert{
			Severity: model.SeverityWarn, Type: model.AlertTimestampFailed,
			Title:   "Checkpoints get no trusted time",
			Message: fmt.Sprintf("Checkpoint %d (%d events) was signed and stored without an RFC 3161 time-stamp token: %v. The next checkpoint asks again.", cp.ID, cp.Size, err),
			Entity:  model.Entity{Type: "CHECKPOINT", ID: strconv.FormatInt(cp.ID, 10)}, Key: timestampAlertKey,
		}); aerr != nil {
			s.log.Error("raising the time-stamping alert", "err", aerr)
		}
		return cp, err
	}
	cp.Timestamp = &ts
	if ok, err := s.st.ResolveAlert(context.WithoutCancel(ctx), timestampAlertKey); err != nil {
		s.log.Error("resolving the time-stamping alert", "err", err)
	} else if ok {
		s.log.Info("alert resolved", "key", timestampAlertKey)
	}
	return cp, nil
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
