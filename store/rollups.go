package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"vigil/model"
)

// Event rollups: how many events fell in each hour of event time, per
// category, outcome, type (AUDIT_LOG events only) and actor (SYSTEM events
// only), in
// event_rollups (migration 0012). The writer adds a batch's counts in the
// transaction that stores it, retention takes out what it removes or
// redacts in the transaction that does so, so the counts always agree with
// the events; the dashboard's charts and tiles read them instead of the
// events (EventTrend). Types are kept for AUDIT_LOG alone (the lifecycle
// chart's actions): a syslog sender's MSGID is any text, and one rollup row
// per distinct MSGID would grow with the events.

const hourNS = int64(time.Hour)

// rollupChunk is how many ids one step of a rebuild counts: a short hold
// of the write connection.
const rollupChunk = 20_000

// rollupKey is one row of event_rollups.
type rollupKey struct {
	hour                                       int64
	category, typ, outcome, actorType, actorID string
}

// rollupKeyOf is the key r is counted under. A redacted row keeps its
// category and time; its type and outcome are REDACTED and its actor
// empty, as the listings see it.
func rollupKeyOf(r *row) rollupKey {
	k := rollupKey{hour: hourOf(r.timeNS), category: r.category, outcome: r.outcome}
	if r.category == model.CategoryAuditLog {
		k.typ = r.typ
	}
	if r.category == model.CategorySystem {
		k.actorType, k.actorID = r.actorType, r.actorID
	}
	return k
}

// hourOf is floor(ns / 1 h).
func hourOf(ns int64) int64 {
	h := ns / hourNS
	if ns%hourNS < 0 {
		h--
	}
	return h
}

// rollupKeySQL is rollupKeyOf in SQL over events.
const rollupKeySQL = `CASE WHEN time_ns >= 0 THEN time_ns / 3600000000000 ELSE (time_ns + 1) / 3600000000000 - 1 END,
	category, CASE WHEN category = 'AUDIT_LOG' THEN type ELSE '' END, outcome,
	CASE WHEN category = 'SYSTEM' THEN coalesce(actor_type, '') ELSE '' END,
	CASE WHEN category = 'SYSTEM' THEN coalesce(actor_id, '') ELSE '' END`

const upsertRollupSQL = `INSERT INTO event_rollups (hour, category, type, outcome, actor_type, actor_id, n) VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (hour, category, type, outcome, actor_type, actor_id) DO UPDATE SET n = n + excluded.n`

// rollupDelta is a change of counts to apply.
type rollupDelta map[rollupKey]int64

// apply adds d to event_rollups in tx through up (upsertRollupSQL) and
// deletes the keys whose count falls to zero.
func (d rollupDelta) apply(ctx context.Context, tx *sql.Tx, up *sql.Stmt) error {
	var emptied []rollupKey
	for k, n := range d {
		if n == 0 {
			continue
		}
		if _, err := up.ExecContext(ctx, k.hour, k.category, k.typ, k.outcome, k.actorType, k.actorID, n); err != nil {
			return fmt.Errorf("update event rollups: %w", err)
		}
		if n < 0 {
			emptied = append(emptied, k)
		}
	}
	for _, k := range emptied {
		if _, err := tx.ExecContext(ctx, `DELETE FROM event_rollups WHERE hour = ? AND category = ? AND type = ? AND outcome = ?
			AND actor_type = ? AND actor_id = ? AND n <= 0`, k.hour, k.category, k.typ, k.outcome, k.actorType, k.actorID); err != nil {
			return fmt.Errorf("update event rollups: %w", err)
		}
	}
	return nil
}

// applyTx is apply with the upsert prepared on tx.
func (d rollupDelta) applyTx(ctx context.Context, tx *sql.Tx) error {
	if len(d) == 0 {
		return nil
	}
	up, err := tx.PrepareContext(ctx, upsertRollupSQL)
	if err != nil {
		return fmt.Errorf("update event rollups: %w", err)
	}
	defer up.Close()
	return d.apply(ctx, tx, up)
}

// rollupState says which events the rollups count: those with an id at
// most countedUpto or above rebuildEnd.
type rollupState struct{ countedUpto, rebuildEnd int64 }

func (st rollupState) counts(id int64) bool { return id <= st.countedUpto || id > st.rebuildEnd }
func (st rollupState) ready() bool          { return st.countedUpto >= st.rebuildEnd }

func readRollupState(ctx context.Context, q querier) (rollupState, error) {
	var st rollupState
	err := q.QueryRowContext(ctx, `SELECT counted_upto, rebuild_end FROM event_rollup_state WHERE one = 1`).Scan(&st.countedUpto, &st.rebuildEnd)
	if err != nil {
		return st, fmt.Errorf("store: event rollup state: %w", err)
	}
	return st, nil
}

// countRange adds sign × the counts of the events in [lo, hi] that st
// counts to d.
func countRange(ctx context.Context, tx *sql.Tx, st rollupState, lo, hi int64, sign int64, d rollupDelta) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+rollupKeySQL+`, count(*) FROM events
		WHERE id BETWEEN ? AND ? AND (id <= ? OR id > ?) GROUP BY 1, 2, 3, 4, 5, 6`, lo, hi, st.countedUpto, st.rebuildEnd)
	if err != nil {
		return fmt.Errorf("count events for rollups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k rollupKey
		var n int64
		if err := rows.Scan(&k.hour, &k.category, &k.typ, &k.outcome, &k.actorType, &k.actorID, &n); err != nil {
			return fmt.Errorf("count events for rollups: %w", err)
		}
		d[k] += sign * n
	}
	return rows.Err()
}

// buildRollups counts, chunk by chunk, the events the rollups do not count
// yet (those stored before migration 0012, or before RebuildRollups), until
// stop is closed.
func (s *Store) buildRollups(stop <-chan struct{}) error {
	ctx := context.Background()
	for s.rollups {
		select {
		case <-stop:
			return nil
		default:
		}
		done, err := s.countRollupChunk(ctx)
		if err != nil || done {
			return err
		}
	}
	return nil
}

// countRollupChunk counts the next chunk of events a rebuild has not
// counted yet; done is true once none is left.
func (s *Store) countRollupChunk(ctx context.Context) (done bool, err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	st, err := readRollupState(ctx, tx)
	if err != nil || st.ready() {
		return err == nil, err
	}
	hi := min(st.countedUpto+rollupChunk, st.rebuildEnd)
	d := rollupDelta{}
	// Only the ids of this chunk: the state is advanced in the same
	// transaction.
	if err := countRange(ctx, tx, rollupState{countedUpto: hi, rebuildEnd: st.rebuildEnd}, st.countedUpto+1, hi, 1, d); err != nil {
		return false, err
	}
	if err := d.applyTx(ctx, tx); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE event_rollup_state SET counted_upto = ? WHERE one = 1`, hi); err != nil {
		return false, err
	}
	return hi >= st.rebuildEnd, tx.Commit()
}

// RebuildRollups recounts the rollups from the events and returns once
// they are counted again; until then EventTrend counts from the events.
func (s *Store) RebuildRollups(ctx context.Context) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: rebuild rollups: %w", err)
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM event_rollups`,
		`UPDATE event_rollup_state SET counted_upto = 0, rebuild_end = (SELECT coalesce(max(id), 0) FROM events) WHERE one = 1`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store: rebuild rollups: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: rebuild rollups: %w", err)
	}
	for {
		done, err := s.countRollupChunk(ctx)
		if err != nil {
			return fmt.Errorf("store: rebuild rollups: %w", err)
		}
		if done {
			return nil
		}
	}
}

// RollupsReady reports whether the rollups count every stored event.
func (s *Store) RollupsReady(ctx context.Context) (bool, error) {
	st, err := readRollupState(ctx, s.rdb)
	return st.ready(), err
}

// trendFromRollups is EventTrend read from the rollups; ok is false when
// they cannot answer q (not built yet, buckets not whole hours, or types
// asked of a category other than AUDIT_LOG).
func (s *Store) trendFromRollups(ctx context.Context, q model.TrendQuery) (counts []model.TrendCount, ok bool, err error) {
	from, step := q.From.UnixNano(), int64(q.Step)
	byType := q.By == model.TrendByType || len(q.Types) > 0
	if !s.rollups || from%hourNS != 0 || step%hourNS != 0 || byType && q.Category != model.CategoryAuditLog {
		return nil, false, nil
	}
	st, err := readRollupState(ctx, s.rdb)
	if err != nil || !st.ready() {
		return nil, false, err
	}
	where := []string{`e.hour >= ?`, `e.hour < ?`}
	args := []any{from, step, hourOf(from), hourOf(q.To().UnixNano())}
	where, args = trendConds(q, where, args)
	counts, err = queryAll(ctx, s.rdb, "event trend", scanTrendCount,
		`SELECT (e.hour * 3600000000000 - ?) / ?, `+trendColumns[q.By]+`, sum(e.n) FROM event_rollups e WHERE `+
			strings.Join(where, ` AND `)+` GROUP BY 1, 2 HAVING sum(e.n) > 0`, args...)
	return counts, err == nil, err
}
