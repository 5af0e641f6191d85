package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"vigil/model"
)

// Retention rules by category and tenant, and legal holds (migration 0018):
// the rules admins set beside --retention and --retention-audit, and the
// holds that keep events from retention. Each change is stored with its
// AUDIT_LOG event, in one transaction.

// Types of the audit events of changes to retention.
const (
	TypeRetentionRuleSet     = "E_RETENTION_RULE_SET"
	TypeRetentionRuleDeleted = "E_RETENTION_RULE_DELETED"
	TypeLegalHoldPlaced      = "E_LEGAL_HOLD_PLACED"
	TypeLegalHoldReleased    = "E_LEGAL_HOLD_RELEASED"
)

const ruleColumns = `id, category, tenant, keep_ns, created_by, created_at`

func scanRule(sc scanner) (model.RetentionRule, error) {
	var r model.RetentionRule
	var keep int64
	var created string
	err := sc.Scan(&r.ID, &r.Category, &r.Tenant, &keep, &r.CreatedBy, &created)
	r.Keep, r.CreatedAt = time.Duration(keep), parseTimeText(created)
	return r, err
}

// RetentionRules returns the rules set in Settings in order of precedence
// (model.RuleRank), lowest first: by category, by tenant, by both.
func (s *Store) RetentionRules(ctx context.Context) ([]model.RetentionRule, error) {
	return queryAll(ctx, s.rdb, "retention rules", scanRule, `SELECT `+ruleColumns+` FROM retention_rules
		ORDER BY (tenant <> '') * 2 + (category <> ''), category, tenant`)
}

// RulesInForce returns every retention rule: the default rule
// (--retention) and the AUDIT_LOG rule (--retention-audit), keeping events
// for retention and audit (0: forever), then those set in Settings.
func (s *Store) RulesInForce(ctx context.Context, retention, audit time.Duration) ([]model.RetentionRule, error) {
	set, err := s.RetentionRules(ctx)
	if err != nil {
		return nil, err
	}
	return append([]model.RetentionRule{
		{Keep: retention, Flag: "--retention"},
		{Category: model.CategoryAuditLog, Keep: audit, Flag: "--retention-audit"},
	}, set...), nil
}

func ruleEntity(r model.RetentionRule) model.Entity {
	return model.Entity{Type: "RETENTION_RULE", ID: strconv.FormatInt(r.ID, 10)}
}

// SetRetentionRule stores r, or changes how long the rule of the same
// category and tenant keeps events, recording the change as actor's.
func (s *Store) SetRetentionRule(ctx context.Context, r model.RetentionRule, actor model.Actor) (model.RetentionRule, error) {
	if err := r.Validate(); err != nil {
		return r, err
	}
	now := s.now()
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		before, err := scanRule(tx.QueryRow(`SELECT `+ruleColumns+` FROM retention_rules WHERE category = ? AND tenant = ?`, r.Category, r.Tenant))
		had := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("store: set retention rule: %w", err)
		}
		r.CreatedBy, r.CreatedAt = actor.ID, now.UTC()
		err = tx.QueryRow(`INSERT INTO retention_rules (category, tenant, keep_ns, created_by, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (category, tenant) DO UPDATE SET keep_ns = excluded.keep_ns, created_by = excluded.created_by, created_at = excluded.created_at
			RETURNING id`, r.Category, r.Tenant, int64(r.Keep), actor.ID, timeText(now)).Scan(&r.ID)
		if err != nil {
			return nil, fmt.Errorf("store: set retention rule: %w", err)
		}
		msg := fmt.Sprintf("Retention rule set: %s kept %s", r.Describe(), r.KeepText())
		details := map[string]any{"category": r.Category, "tenant": r.Tenant, "keep": r.KeepText()}
		if had {
			msg += " (was " + before.KeepText() + ")"
			details["keep_before"] = before.KeepText()
		}
		e, err := model.NewAuditEvent(now, TypeRetentionRuleSet, "SUCCESS", actor, ruleEntity(r), msg, details)
		return []model.Event{e}, err
	})
	return r, err
}

// DeleteRetentionRule deletes rule id, recording the change as actor's:
// its events fall under the next rule that matches them.
func (s *Store) DeleteRetentionRule(ctx context.Context, id int64, actor model.Actor) (model.RetentionRule, error) {
	return deleteRecorded(ctx, s, "retention rule", `SELECT `+ruleColumns+` FROM retention_rules WHERE id = ?`,
		`DELETE FROM retention_rules WHERE id = ?`, id, scanRule, func(r model.RetentionRule) (model.Event, error) {
			return model.NewAuditEvent(s.now(), TypeRetentionRuleDeleted, "SUCCESS", actor, ruleEntity(r),
				fmt.Sprintf("Retention rule deleted: %s kept %s", r.Describe(), r.KeepText()),
				map[string]any{"category": r.Category, "tenant": r.Tenant, "keep": r.KeepText()})
		})
}

// deleteRecorded reads the row id of what (query, scan), deletes it (del)
// and appends the audit event audit makes of it, in one transaction.
func deleteRecorded[T any](ctx context.Context, s *Store, what, query, del string, id int64, scan func(scanner) (T, error),
	audit func(T) (model.Event, error)) (T, error) {
	var v T
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		var err error
		if v, err = queryOne(ctx, tx, fmt.Sprintf("%s %d", what, id), scan, query, id); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(del, id); err != nil {
			return nil, fmt.Errorf("store: delete %s: %w", what, err)
		}
		e, err := audit(v)
		return []model.Event{e}, err
	})
	return v, err
}

const holdColumns = `id, tenant, received_from, received_to, reason, created_by, created_at`

func scanHold(sc scanner) (model.LegalHold, error) {
	var h model.LegalHold
	var from, to sql.NullInt64
	var created string
	err := sc.Scan(&h.ID, &h.Tenant, &from, &to, &h.Reason, &h.CreatedBy, &created)
	if from.Valid {
		h.From, h.To = time.Unix(0, from.Int64).UTC(), time.Unix(0, to.Int64).UTC()
	}
	h.CreatedAt = parseTimeText(created)
	return h, err
}

// LegalHolds returns the holds in place, oldest first.
func (s *Store) LegalHolds(ctx context.Context) ([]model.LegalHold, error) {
	return queryAll(ctx, s.rdb, "legal holds", scanHold, `SELECT `+holdColumns+` FROM legal_holds ORDER BY id`)
}

func holdEntity(h model.LegalHold) model.Entity {
	return model.Entity{Type: "LEGAL_HOLD", ID: strconv.FormatInt(h.ID, 10)}
}

func holdDetails(h model.LegalHold) map[string]any {
	d := map[string]any{"tenant": h.Tenant, "reason": h.Reason}
	if !h.From.IsZero() {
		d["received_from"], d["received_to"] = recordTime(h.From), recordTime(h.To)
	}
	return d
}

// PlaceLegalHold places h, recording the change as actor's. Retention
// keeps what it covers from its next run on.
func (s *Store) PlaceLegalHold(ctx context.Context, h model.LegalHold, actor model.Actor) (model.LegalHold, error) {
	if err := h.Validate(); err != nil {
		return h, err
	}
	now := s.now()
	var from, to any
	if !h.From.IsZero() {
		from, to = h.From.UnixNano(), h.To.UnixNano()
	}
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		h.CreatedBy, h.CreatedAt = actor.ID, now.UTC()
		err := tx.QueryRow(`INSERT INTO legal_holds (tenant, received_from, received_to, reason, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, h.Tenant, from, to, h.Reason, actor.ID, timeText(now)).Scan(&h.ID)
		if err != nil {
			return nil, fmt.Errorf("store: place legal hold: %w", err)
		}
		e, err := model.NewAuditEvent(now, TypeLegalHoldPlaced, "SUCCESS", actor, holdEntity(h),
			"Legal hold placed: "+h.Describe(), holdDetails(h))
		return []model.Event{e}, err
	})
	return h, err
}

// ReleaseLegalHold releases hold id, recording the change as actor's.
func (s *Store) ReleaseLegalHold(ctx context.Context, id int64, actor model.Actor) (model.LegalHold, error) {
	return deleteRecorded(ctx, s, "legal hold", `SELECT `+holdColumns+` FROM legal_holds WHERE id = ?`,
		`DELETE FROM legal_holds WHERE id = ?`, id, scanHold, func(h model.LegalHold) (model.Event, error) {
			return model.NewAuditEvent(s.now(), TypeLegalHoldReleased, "SUCCESS", actor, holdEntity(h),
				"Legal hold released: "+h.Describe(), holdDetails(h))
		})
}

// RuleUsage is what a rule (by its category and tenant) kept at the last
// retention run: its events below the newest block and their size,
// roughly.
type RuleUsage struct {
	Category, Tenant string
	Events, Bytes    int64
	CountedAt        time.Time
}

// RetentionUsage returns what each rule kept at the last retention run.
func (s *Store) RetentionUsage(ctx context.Context) ([]RuleUsage, error) {
	return queryAll(ctx, s.rdb, "retention usage", func(sc scanner) (RuleUsage, error) {
		var u RuleUsage
		var at string
		err := sc.Scan(&u.Category, &u.Tenant, &u.Events, &u.Bytes, &at)
		u.CountedAt = parseTimeText(at)
		return u, err
	}, `SELECT category, tenant, events, bytes, counted_at FROM retention_usage ORDER BY category, tenant`)
}

// storeRetentionUsage replaces the figures of the last run with pl's.
func (s *Store) storeRetentionUsage(ctx context.Context, p RetentionPolicy, pl retentionPlan) error {
	if kept, err := s.eng.tableExists(ctx, s.wdb, "retention_usage"); err != nil || !kept {
		return err // a schema before migration 0018
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM retention_usage`); err != nil {
		return err
	}
	at := timeText(s.now())
	for i, c := range p.cutoffs() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO retention_usage (category, tenant, events, bytes, counted_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (category, tenant) DO UPDATE SET events = retention_usage.events + excluded.events,
				bytes = retention_usage.bytes + excluded.bytes`,
			c.Category, c.Tenant, pl.usage[i].events, pl.usage[i].bytes, at); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Redaction says how a redacted event's content was removed.
type Redaction struct {
	RecordID int64     // the retention record that redacted it
	At       time.Time // when (the record's time)
	Rule     string    // the record's rule that dropped it
	Record   string    // the record's whole rule
}

// RedactionOf returns how redacted event e's content was removed, from the
// retention record it names.
func (s *Store) RedactionOf(ctx context.Context, e model.Event) (Redaction, error) {
	var d redactedDetails
	if !e.Redacted() || json.Unmarshal(e.Details, &d) != nil || d.Redacted.By == 0 {
		return Redaction{}, model.Errorf(model.EINVALID, "event %d is not redacted", e.ID)
	}
	red := Redaction{RecordID: d.Redacted.By}
	r, _, err := scanRow(s.rdb.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id = ?`, red.RecordID))
	if errors.Is(err, sql.ErrNoRows) {
		return red, model.Errorf(model.ENOTFOUND, "retention record %d not found", red.RecordID)
	}
	if err != nil {
		return red, fmt.Errorf("store: redaction of event %d: %w", e.ID, err)
	}
	var rec retentionRecord
	if !r.isRecord() || r.typ != RetentionRecordType || json.Unmarshal([]byte(r.details), &rec) != nil {
		return red, model.Errorf(model.ENOTFOUND, "event %d, which event %d names, is not a retention record", red.RecordID, e.ID)
	}
	red.At = time.Unix(0, r.receivedAt).UTC()
	red.Rule, red.Record = rec.ruleFor(e.Category, e.Tenant), rec.Rule
	return red, nil
}
