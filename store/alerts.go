package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"vigil/model"
)

const alertColumns = `id, severity, type, title, message, entity_type, entity_id, key, created_at,
	read_at, read_by, resolved_at, delivery_status, delivery_attempts, delivery_error, delivered_at,
	held_for_job, reminders, reminded_at`

func scanAlert(sc scanner) (model.Alert, error) {
	var a model.Alert
	var etype, eid, readAt, readBy, resolved, derr, dat, reminded sql.NullString
	var held sql.NullInt64
	var created string
	err := sc.Scan(&a.ID, &a.Severity, &a.Type, &a.Title, &a.Message, &etype, &eid, &a.Key, &created,
		&readAt, &readBy, &resolved, &a.Delivery.Status, &a.Delivery.Attempts, &derr, &dat,
		&held, &a.Reminders, &reminded)
	if err != nil {
		return a, err
	}
	a.Entity = model.Entity{Type: etype.String, ID: eid.String}
	a.CreatedAt = parseTimeText(created)
	a.ReadAt, a.ResolvedAt, a.Delivery.At = optTime(readAt), optTime(resolved), optTime(dat)
	a.Delivery.HeldForJob, a.RemindedAt = held.Int64, optTime(reminded)
	a.Read = a.ReadAt != nil
	a.ReadBy, a.Delivery.Error = readBy.String, derr.String
	return a, nil
}

// optTime converts a nullable time column to a pointer.
func optTime(ns sql.NullString) *time.Time {
	if !ns.Valid || ns.String == "" {
		return nil
	}
	t := parseTimeText(ns.String)
	return &t
}

// RaiseAlert stores a new alert unless one with the same key is open, and
// reports whether it was created; either way the open alert is returned.
// An alert whose Delivery.HeldForJob names a job is stored held: it is not
// for the webhook until ReleaseHeldAlert.
func (s *Store) RaiseAlert(ctx context.Context, a model.Alert) (model.Alert, bool, error) {
	if err := a.Validate(); err != nil {
		return a, false, err
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return a, false, fmt.Errorf("store: raise alert: %w", err)
	}
	defer tx.Rollback()
	a, created, err := raiseAlertTx(tx, a, s.now())
	if err != nil {
		return a, false, err
	}
	if err := tx.Commit(); err != nil {
		return a, false, fmt.Errorf("store: raise alert: %w", err)
	}
	return a, created, nil
}

func raiseAlertTx(tx *sql.Tx, a model.Alert, now time.Time) (model.Alert, bool, error) {
	if err := a.Validate(); err != nil {
		return a, false, err
	}
	existing, err := scanAlert(tx.QueryRow(`SELECT `+alertColumns+` FROM alerts WHERE key = ? AND resolved_at IS NULL`, a.Key))
	if err == nil {
		return existing, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return a, false, fmt.Errorf("store: raise alert: %w", err)
	}
	a.CreatedAt = now.UTC()
	a.Delivery = model.Delivery{Status: model.DeliveryNone, HeldForJob: a.Delivery.HeldForJob}
	if a.Delivery.HeldForJob != 0 {
		a.Delivery.Status = model.DeliveryHeld
	}
	a.Reminders, a.RemindedAt = 0, nil
	err = tx.QueryRow(`INSERT INTO alerts (severity, type, title, message, entity_type, entity_id, key, created_at,
		delivery_status, held_for_job) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, a.Severity, a.Type, a.Title, a.Message,
		nullStr(a.Entity.Type), nullStr(a.Entity.ID), a.Key, timeText(a.CreatedAt), a.Delivery.Status, nullID(a.Delivery.HeldForJob)).Scan(&a.ID)
	if err != nil {
		return a, false, fmt.Errorf("store: raise alert: %w", err)
	}
	return a, true, nil
}

// AlertKeyUsed reports whether an alert with key was ever raised, open or
// resolved: a condition that must alert once only checks it.
func (s *Store) AlertKeyUsed(ctx context.Context, key string) (bool, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE key = ?`, key).Scan(&n); err != nil {
		return false, fmt.Errorf("store: alert key: %w", err)
	}
	return n > 0, nil
}

// ResolveAlert marks the open alert with key resolved at now, and reports
// whether there was one.
func (s *Store) ResolveAlert(ctx context.Context, key string) (bool, error) {
	res, err := s.wdb.ExecContext(ctx, `UPDATE alerts SET resolved_at = ? WHERE key = ? AND resolved_at IS NULL`,
		timeText(s.now()), key)
	if err != nil {
		return false, fmt.Errorf("store: resolve alert: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// resolveEntityAlertsTx resolves the open alerts of the given types about
// an entity and returns how many there were.
func resolveEntityAlertsTx(tx *sql.Tx, entity model.Entity, types []string, now time.Time) (int64, error) {
	args := []any{timeText(now), entity.Type, entity.ID}
	for _, t := range types {
		args = append(args, t)
	}
	res, err := tx.Exec(`UPDATE alerts SET resolved_at = ?
		WHERE entity_type = ? AND entity_id = ? AND resolved_at IS NULL AND type IN (`+placeholders(len(types))+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("store: resolve alerts: %w", err)
	}
	return res.RowsAffected()
}

// OpenAlertsOfType returns the open alerts of type typ, oldest first.
func (s *Store) OpenAlertsOfType(ctx context.Context, typ string) ([]model.Alert, error) {
	return s.queryAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE type = ? AND resolved_at IS NULL ORDER BY id`, typ)
}

func (s *Store) queryAlerts(ctx context.Context, q string, args ...any) ([]model.Alert, error) {
	return queryAll(ctx, s.rdb, "alerts", scanAlert, q, args...)
}

// AlertByID returns alert id.
func (s *Store) AlertByID(ctx context.Context, id int64) (model.Alert, error) {
	return queryOne(ctx, s.rdb, fmt.Sprintf("alert %d", id), scanAlert, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id)
}

// FindAlerts returns the alerts matching f, newest first, and the cursor of
// the next page (0 when there is none).
func (s *Store) FindAlerts(ctx context.Context, f model.AlertFilter) ([]model.Alert, int64, error) {
	where, args := s.d.alertConds(f)
	if f.Before > 0 {
		where, args = append(where, `id < ?`), append(args, f.Before)
	}
	limit := listLimit(f.Limit)
	q := `SELECT ` + alertColumns + ` FROM alerts` + whereSQL(where)
	alerts, err := s.queryAlerts(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(alerts) > limit {
		alerts = alerts[:limit]
		next = alerts[limit-1].ID
	}
	return alerts, next, nil
}

// alertConds are the conditions of f but for its paging.
func (d dialect) alertConds(f model.AlertFilter) (where []string, args []any) {
	if f.Unread {
		where = append(where, `read_at IS NULL`)
	}
	if f.Open {
		where = append(where, `resolved_at IS NULL`)
	}
	if f.Severity != "" {
		where, args = append(where, `severity = ?`), append(args, f.Severity)
	}
	if f.Type != "" {
		where, args = append(where, `type = ?`), append(args, f.Type)
	}
	if f.EntityType != "" {
		where, args = append(where, `entity_type = ?`), append(args, f.EntityType)
	}
	if f.EntityID != "" {
		where, args = append(where, `entity_id = ?`), append(args, f.EntityID)
	}
	conds, a := d.timeRangeConds("created_at", f.From, f.To)
	return append(where, conds...), append(args, a...)
}

// CountUnreadAlerts returns the number of unread alerts.
func (s *Store) CountUnreadAlerts(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE read_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count unread alerts: %w", err)
	}
	return n, nil
}

// CountOpenAlertsBySeverity returns the open (unresolved) alerts per
// severity.
func (s *Store) CountOpenAlertsBySeverity(ctx context.Context) (map[string]int, error) {
	return s.countAlertsBySeverity(ctx, `resolved_at IS NULL`)
}

// CountUnreadAlertsBySeverity returns the unread alerts per severity.
func (s *Store) CountUnreadAlertsBySeverity(ctx context.Context) (map[string]int, error) {
	return s.countAlertsBySeverity(ctx, `read_at IS NULL`)
}

// countAlertsBySeverity counts the alerts matching cond (a constant of the
// caller's) per severity.
func (s *Store) countAlertsBySeverity(ctx context.Context, cond string) (map[string]int, error) {
	return s.countBy(ctx, `SELECT severity, count(*) FROM alerts WHERE `+cond+` GROUP BY severity`)
}

// AlertTrend counts the alerts created on each of days UTC days from the
// midnight from, by severity.
func (s *Store) AlertTrend(ctx context.Context, from time.Time, days int) ([]model.TrendCount, error) {
	return s.dailyTrend(ctx, "alert trend", "alerts", "created_at", "severity", "", from, days)
}

func (s *Store) countBy(ctx context.Context, q string) (map[string]int, error) {
	type count struct {
		k string
		n int
	}
	counts, err := queryAll(ctx, s.rdb, "count", func(sc scanner) (count, error) {
		var c count
		return c, sc.Scan(&c.k, &c.n)
	}, q)
	out := map[string]int{}
	for _, c := range counts {
		out[c.k] = c.n
	}
	return out, err
}

// MarkAlertRead marks alert id read by user and records it as an
// ALERT_READ audit event. Marking a read alert again changes nothing.
func (s *Store) MarkAlertRead(ctx context.Context, id int64, actor model.Actor) (model.Alert, error) {
	var a model.Alert
	now := s.now()
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		var err error
		a, err = queryOne(ctx, tx, fmt.Sprintf("alert %d", id), scanAlert, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id)
		if err != nil {
			return nil, err
		}
		if a.Read {
			return nil, nil
		}
		if _, err := tx.Exec(`UPDATE alerts SET read_at = ?, read_by = ? WHERE id = ?`, timeText(now), actor.ID, id); err != nil {
			return nil, fmt.Errorf("store: mark alert read: %w", err)
		}
		t := now.UTC()
		a.Read, a.ReadAt, a.ReadBy = true, &t, actor.ID
		e, err := model.NewAuditEvent(now, "ALERT_READ", "SUCCESS", actor, model.Entity{Type: "ALERT", ID: fmt.Sprint(id)},
			fmt.Sprintf("Alert %d (%s) marked read by %s", id, a.Type, actor.ID), map[string]any{"alert_type": a.Type, "severity": a.Severity})
		return []model.Event{e}, err
	})
	return a, err
}

// MarkAllAlertsRead marks every unread alert read and returns how many.
func (s *Store) MarkAllAlertsRead(ctx context.Context, actor model.Actor) (int64, error) {
	return s.MarkAlertsRead(ctx, model.AlertFilter{}, actor)
}

// MarkAlertsRead marks the unread alerts f selects (all its pages: its
// cursor and limit are ignored) read and returns how many; the
// ALERTS_READ audit event records the count and the filter.
func (s *Store) MarkAlertsRead(ctx context.Context, f model.AlertFilter, actor model.Actor) (int64, error) {
	var n int64
	now := s.now()
	f.Before, f.Limit = 0, 0
	where, args := s.d.alertConds(f)
	where = append(where, `read_at IS NULL`)
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		res, err := tx.Exec(`UPDATE alerts SET read_at = ?, read_by = ?`+whereSQL(where), append([]any{timeText(now), actor.ID}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("store: mark all alerts read: %w", err)
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return nil, nil
		}
		e, err := model.NewAuditEvent(now, "ALERTS_READ", "SUCCESS", actor, model.Entity{Type: "ALERT", ID: "*"},
			fmt.Sprintf("%d alerts marked read by %s", n, actor.ID), map[string]any{"count": n, "filters_used": f.Query().Encode()})
		return []model.Event{e}, err
	})
	return n, err
}

// SetAlertDelivery records the state of an alert's webhook notification.
func (s *Store) SetAlertDelivery(ctx context.Context, id int64, d model.Delivery) error {
	var at any
	if d.At != nil {
		at = timeText(*d.At)
	}
	_, err := s.wdb.ExecContext(ctx, `UPDATE alerts SET delivery_status = ?, delivery_attempts = ?, delivery_error = ?, delivered_at = ? WHERE id = ?`,
		d.Status, d.Attempts, nullStr(d.Error), at, id)
	if err != nil {
		return fmt.Errorf("store: alert delivery: %w", err)
	}
	return nil
}

// RecordAlertDelivery records the outcome of a delivery of alert id begun
// when it had sent reminders: when a reminder was marked since (and
// queued, pending), that newer delivery's state is left as it is.
func (s *Store) RecordAlertDelivery(ctx context.Context, id int64, reminders int, d model.Delivery) error {
	var at any
	if d.At != nil {
		at = timeText(*d.At)
	}
	_, err := s.wdb.ExecContext(ctx, `UPDATE alerts SET delivery_status = ?, delivery_attempts = ?, delivery_error = ?, delivered_at = ?
		WHERE id = ? AND reminders = ?`, d.Status, d.Attempts, nullStr(d.Error), at, id, reminders)
	if err != nil {
		return fmt.Errorf("store: alert delivery: %w", err)
	}
	return nil
}

// PendingAlertDeliveries returns the alerts whose notification was queued
// but not finished (for instance when Vigil stopped), oldest first.
func (s *Store) PendingAlertDeliveries(ctx context.Context) ([]model.Alert, error) {
	return s.queryAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE delivery_status = 'pending' ORDER BY id`)
}

// HeldAlerts returns the open alerts held for a renewal job, oldest first.
func (s *Store) HeldAlerts(ctx context.Context) ([]model.Alert, error) {
	return s.queryAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE delivery_status = 'held' AND resolved_at IS NULL ORDER BY id`)
}

// ReleaseHeldAlert ends the hold of open alert id, adding why to its
// message, and returns it, ready for the webhook (delivery none). It is
// ENOTFOUND when the alert is not held and open (any more).
func (s *Store) ReleaseHeldAlert(ctx context.Context, id int64, why string) (model.Alert, error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return model.Alert{}, fmt.Errorf("store: release alert: %w", err)
	}
	defer tx.Rollback()
	as, err := releaseHeldTx(tx, `id = ?`, id, why)
	if err != nil {
		return model.Alert{}, err
	}
	if len(as) == 0 {
		return model.Alert{}, model.Errorf(model.ENOTFOUND, "alert %d is not held", id)
	}
	if err := tx.Commit(); err != nil {
		return model.Alert{}, fmt.Errorf("store: release alert: %w", err)
	}
	return as[0], nil
}

// releaseHeldTx releases the open held alerts matching cond (a constant of
// the caller's, with one argument arg), adding why to their messages.
func releaseHeldTx(tx *sql.Tx, cond string, arg any, why string) ([]model.Alert, error) {
	as, err := queryAll(context.Background(), tx, "release alerts", scanAlert, `UPDATE alerts
		SET delivery_status = 'none', held_for_job = NULL, message = message || ' ' || ?
		WHERE delivery_status = 'held' AND resolved_at IS NULL AND `+cond+` RETURNING `+alertColumns, why, arg)
	if err != nil {
		return nil, fmt.Errorf("store: release alerts: %w", err)
	}
	return as, nil
}

// RemindableAlerts returns the unread, open ERROR alerts of
// model.RemindableTypes last sent (raised or reminded) at or before due,
// oldest first.
func (s *Store) RemindableAlerts(ctx context.Context, due time.Time) ([]model.Alert, error) {
	args := []any{model.SeverityError}
	for _, t := range model.RemindableTypes {
		args = append(args, t)
	}
	as, err := s.queryAlerts(ctx, `SELECT `+alertColumns+` FROM alerts
		WHERE read_at IS NULL AND resolved_at IS NULL AND severity = ? AND type IN (`+placeholders(len(model.RemindableTypes))+`)
		ORDER BY id`, args...)
	out := as[:0]
	for _, a := range as {
		last := a.CreatedAt
		if a.RemindedAt != nil {
			last = *a.RemindedAt
		}
		if !last.After(due) {
			out = append(out, a)
		}
	}
	return out, err
}

// MarkReminded counts a reminder of alert id sent at now and returns the
// alert, or ENOTFOUND when it was read or resolved meanwhile.
func (s *Store) MarkReminded(ctx context.Context, id int64, now time.Time) (model.Alert, error) {
	return queryOne(ctx, s.wdb, fmt.Sprintf("unread open alert %d", id), scanAlert, `UPDATE alerts
		SET reminders = reminders + 1, reminded_at = ? WHERE id = ? AND read_at IS NULL AND resolved_at IS NULL
		RETURNING `+alertColumns, timeText(now), id)
}
