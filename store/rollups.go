package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
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

const (
	hourNS   = int64(time.Hour)
	minuteNS = int64(time.Minute)
)

// rollupChunk is how many ids one step of a rebuild counts: a short hold
// of the write connection.
const rollupChunk = 20_000

// rollupUnit is the span of a rollup's buckets; each has its table.
type rollupUnit int

const (
	byHour   rollupUnit = iota // event_rollups
	byMinute                   // event_rollups_minute (migration 0016)
	byBlock                    // event_rollups_block (migration 0016): blocks of ids
)

// rollupTables are the table and bucket column of each unit, and the
// span of event time of a bucket (none for blocks of ids).
var rollupTables = [...]struct {
	table, column string
	span          int64
}{
	byHour:   {"event_rollups", "hour", hourNS},
	byMinute: {"event_rollups_minute", "minute", minuteNS},
	byBlock:  {"event_rollups_block", "block", 0},
}

// blockIDs is how many ids a byBlock bucket spans.
const blockIDs = 4096

// upsertRollupSQL adds to a count of unit u.
func upsertRollupSQL(u rollupUnit) string {
	t := rollupTables[u]
	return `INSERT INTO ` + t.table + ` (` + t.column + `, category, type, outcome, actor_type, actor_id, n) VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (` + t.column + `, category, type, outcome, actor_type, actor_id) DO UPDATE SET n = ` + t.table + `.n + excluded.n`
}

// rollupKey is one row of a rollup table.
type rollupKey struct {
	unit                                       rollupUnit
	bucket                                     int64
	category, typ, outcome, actorType, actorID string
}

// add counts r n times (n < 0 takes it out), in its hour, its minute and
// its block of ids.
// A redacted row keeps its category and time; its type and outcome are
// REDACTED and its actor empty, as the listings see it.
func (d rollupDelta) add(r *row, n int64) {
	k := rollupKey{unit: byHour, bucket: floorDiv(r.timeNS, hourNS), category: r.category, outcome: r.outcome}
	if r.category == model.CategoryAuditLog {
		k.typ = r.typ
	}
	if r.category == model.CategorySystem {
		k.actorType, k.actorID = r.actorType, r.actorID
	}
	d[k] += n
	k.unit, k.bucket = byMinute, floorDiv(r.timeNS, minuteNS)
	d[k] += n
	k.unit, k.bucket = byBlock, r.id/blockIDs
	d[k] += n
}

// floorDiv is floor(a / b) for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// ceilDiv is ceil(a / b) for b > 0.
func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// rollupKeySQL is the minute and the block of rollupDelta.add's keys in
// SQL over events, then the rest of the key; the hour follows from the
// minute.
const rollupKeySQL = `CASE WHEN time_ns >= 0 THEN time_ns / 60000000000 ELSE (time_ns + 1) / 60000000000 - 1 END,
	id / 4096, category, CASE WHEN category = 'AUDIT_LOG' THEN type ELSE '' END, outcome,
	CASE WHEN category = 'SYSTEM' THEN coalesce(actor_type, '') ELSE '' END,
	CASE WHEN category = 'SYSTEM' THEN coalesce(actor_id, '') ELSE '' END`

// rollupDelta is a change of counts to apply.
type rollupDelta map[rollupKey]int64

// rollupStmts are upsertRollupSQL of each unit, prepared.
type rollupStmts [len(rollupTables)]*sql.Stmt

// apply adds d to the rollup tables in tx through ups and deletes the keys
// whose count falls to zero.
func (d rollupDelta) apply(ctx context.Context, tx *sql.Tx, ups rollupStmts) error {
	var emptied []rollupKey
	for k, n := range d {
		if n == 0 {
			continue
		}
		if _, err := ups[k.unit].ExecContext(ctx, k.bucket, k.category, k.typ, k.outcome, k.actorType, k.actorID, n); err != nil {
			return fmt.Errorf("update event rollups: %w", err)
		}
		if n < 0 {
			emptied = append(emptied, k)
		}
	}
	for _, k := range emptied {
		t := rollupTables[k.unit]
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t.table+` WHERE `+t.column+` = ? AND category = ? AND type = ? AND outcome = ?
			AND actor_type = ? AND actor_id = ? AND n <= 0`, k.bucket, k.category, k.typ, k.outcome, k.actorType, k.actorID); err != nil {
			return fmt.Errorf("update event rollups: %w", err)
		}
	}
	return nil
}

// prepareRollups prepares upsertRollupSQL of each unit with prep.
func prepareRollups(prep func(string) *sql.Stmt) rollupStmts {
	var ups rollupStmts
	for u := range ups {
		ups[u] = prep(upsertRollupSQL(rollupUnit(u)))
	}
	return ups
}

// applyTx is apply with the upserts prepared on tx.
func (d rollupDelta) applyTx(ctx context.Context, tx *sql.Tx) error {
	if len(d) == 0 {
		return nil
	}
	var err error
	ups := prepareRollups(func(q string) *sql.Stmt {
		st, e := tx.PrepareContext(ctx, q)
		err = cmp.Or(err, e)
		return st
	})
	defer func() {
		for _, st := range ups {
			if st != nil {
				st.Close()
			}
		}
	}()
	if err != nil {
		return fmt.Errorf("update event rollups: %w", err)
	}
	return d.apply(ctx, tx, ups)
}

// blockTimes are the earliest and latest event time seen per block of ids.
type blockTimes map[int64][2]int64

// observe widens r's block to r's time.
func (bt blockTimes) observe(r *row) {
	b := r.id / blockIDs
	t, ok := bt[b]
	if !ok {
		t = [2]int64{r.timeNS, r.timeNS}
	}
	bt[b] = [2]int64{min(t[0], r.timeNS), max(t[1], r.timeNS)}
}

// widenBlockTimes ends an INSERT into event_blocks: a block already there
// is widened to the new times.
const widenBlockTimes = `ON CONFLICT (block) DO UPDATE SET
	min_time_ns = CASE WHEN excluded.min_time_ns < event_blocks.min_time_ns THEN excluded.min_time_ns ELSE event_blocks.min_time_ns END,
	max_time_ns = CASE WHEN excluded.max_time_ns > event_blocks.max_time_ns THEN excluded.max_time_ns ELSE event_blocks.max_time_ns END`

const upsertBlockTimesSQL = `INSERT INTO event_blocks (block, min_time_ns, max_time_ns) VALUES (?, ?, ?) ` + widenBlockTimes

// apply widens event_blocks to bt through up (upsertBlockTimesSQL).
func (bt blockTimes) apply(ctx context.Context, up *sql.Stmt) error {
	for b, t := range bt {
		if _, err := up.ExecContext(ctx, b, t[0], t[1]); err != nil {
			return fmt.Errorf("update event blocks: %w", err)
		}
	}
	return nil
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
		WHERE id BETWEEN ? AND ? AND (id <= ? OR id > ?) GROUP BY 1, 2, 3, 4, 5, 6, 7`, lo, hi, st.countedUpto, st.rebuildEnd)
	if err != nil {
		return fmt.Errorf("count events for rollups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		k := rollupKey{unit: byMinute}
		var block, n int64
		if err := rows.Scan(&k.bucket, &block, &k.category, &k.typ, &k.outcome, &k.actorType, &k.actorID, &n); err != nil {
			return fmt.Errorf("count events for rollups: %w", err)
		}
		d[k] += sign * n
		minute := k.bucket
		k.unit, k.bucket = byHour, floorDiv(minute, hourNS/minuteNS)
		d[k] += sign * n
		k.unit, k.bucket = byBlock, block
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_blocks (block, min_time_ns, max_time_ns)
		SELECT id / 4096, min(time_ns), max(time_ns) FROM events WHERE id BETWEEN ? AND ? GROUP BY 1 `+widenBlockTimes,
		st.countedUpto+1, hi); err != nil {
		return false, fmt.Errorf("update event blocks: %w", err)
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
	for _, q := range []string{`DELETE FROM event_rollups`, `DELETE FROM event_rollups_minute`, `DELETE FROM event_rollups_block`, `DELETE FROM event_blocks`,
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
// they cannot answer q (not built yet, several buckets that are not whole
// hours, or types asked of a category other than AUDIT_LOG).
//
// Whole-hour buckets are read from the hourly counts. A single bucket of
// any span (the dashboard's exact "last 24 hours") is read in pieces:
// its whole hours from the hourly counts, the whole minutes before and
// after them from the minute counts, and only the part minutes at its two
// ends from the events, so its cost does not grow with the events in it.
func (s *Store) trendFromRollups(ctx context.Context, q model.TrendQuery) (counts []model.TrendCount, ok bool, err error) {
	from, step := q.From.UnixNano(), int64(q.Step)
	byType := q.By == model.TrendByType || len(q.Types) > 0
	aligned := from%hourNS == 0 && step%hourNS == 0
	if !s.rollups || !aligned && q.Buckets != 1 || byType && q.Category != model.CategoryAuditLog {
		return nil, false, nil
	}
	st, err := readRollupState(ctx, s.rdb)
	if err != nil || !st.ready() {
		return nil, false, err
	}
	if aligned {
		counts, err = s.rollupCounts(ctx, q, byHour, from, step, from, q.To().UnixNano())
		return counts, err == nil, err
	}
	sum := map[string]int{}
	add := func(sign int, cs []model.TrendCount, err error) error {
		for _, c := range cs {
			sum[c.Key] += sign * c.Count
		}
		return err
	}
	// [a, b) splits into events [a, m1) + minutes [m1, h1) + hours [h1, h2)
	// + minutes [h2, m2) + the minute from m2 less the events in [b, m2 +
	// 1 min), the bounds rounded inwards. b is usually now: what is dated
	// after it is rare (senders' clocks ahead), while the current minute may
	// hold a burst of events. a is a day or a week ago.
	a, b := from, q.To().UnixNano()
	m1, m2 := ceilDiv(a, minuteNS)*minuteNS, floorDiv(b, minuteNS)*minuteNS
	if m1 > m2 {
		return nil, false, nil // within one minute: the events answer
	}
	h1, h2 := max(ceilDiv(a, hourNS)*hourNS, m1), min(floorDiv(b, hourNS)*hourNS, m2)
	if h1 > h2 {
		h1, h2 = m2, m2 // no whole hour: minutes all the way
	}
	one := func(lo, hi int64) model.TrendQuery {
		p := q
		p.From, p.Step, p.Buckets = time.Unix(0, lo), time.Duration(hi-lo), 1
		return p
	}
	type piece struct {
		lo, hi int64
		sign   int
		unit   rollupUnit
		events bool
	}
	pieces := []piece{{a, m1, 1, 0, true}, {m1, h1, 1, byMinute, false}, {h1, h2, 1, byHour, false}, {h2, m2, 1, byMinute, false}}
	if b > m2 {
		pieces = append(pieces, piece{m2, m2 + minuteNS, 1, byMinute, false}, piece{b, m2 + minuteNS, -1, 0, true})
	}
	for _, piece := range pieces {
		if piece.lo >= piece.hi {
			continue
		}
		var cs []model.TrendCount
		var err error
		if piece.events {
			cs, err = s.trendFromEvents(ctx, one(piece.lo, piece.hi))
		} else {
			cs, err = s.rollupCounts(ctx, q, piece.unit, piece.lo, piece.hi-piece.lo, piece.lo, piece.hi)
		}
		if err := add(piece.sign, cs, err); err != nil {
			return nil, false, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(sum)) {
		if sum[k] > 0 {
			counts = append(counts, model.TrendCount{Bucket: 0, Key: k, Count: sum[k]})
		}
	}
	return counts, true, nil
}

// rollupCounts reads q's counts of the event times [lo, hi), whole
// buckets of unit (hours or minutes), each counted in bucket (bucket start
// - from) / step of the answer.
func (s *Store) rollupCounts(ctx context.Context, q model.TrendQuery, unit rollupUnit, from, step, lo, hi int64) ([]model.TrendCount, error) {
	t := rollupTables[unit]
	where := []string{`e.` + t.column + ` >= ?`, `e.` + t.column + ` < ?`}
	args := []any{t.span, from, step, floorDiv(lo, t.span), floorDiv(hi, t.span)}
	where, args = s.d.trendConds(q, where, args)
	return queryAll(ctx, s.rdb, "event trend", scanTrendCount,
		`SELECT (e.`+t.column+` * ? - ?) / ?, `+trendColumns[q.By]+`, sum(e.n) FROM `+t.table+` e WHERE `+
			strings.Join(where, ` AND `)+` GROUP BY 1, 2 HAVING sum(e.n) > 0`, args...)
}
