package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"vigil/model"
)

// trendColumns are the columns a trend may count by.
var trendColumns = map[string]string{model.TrendByCategory: "e.category", model.TrendByType: "e.type"}

// EventTrend counts the events of q per bucket and key. Buckets and keys
// without events are absent. Whole-hour buckets are read from the rollups
// (at most one row per hour and key, whatever the number of events); other
// buckets, and every bucket while the rollups are being rebuilt, are
// counted from the events through the event time index.
func (s *Store) EventTrend(ctx context.Context, q model.TrendQuery) ([]model.TrendCount, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	counts, ok, err := s.trendFromRollups(ctx, q)
	if err != nil || ok {
		return counts, err
	}
	return s.trendFromEvents(ctx, q)
}

// trendFromEvents is EventTrend counted from the events.
func (s *Store) trendFromEvents(ctx context.Context, q model.TrendQuery) ([]model.TrendCount, error) {
	from, step := q.From.UnixNano(), int64(q.Step)
	where := []string{`e.time_ns >= ?`, `e.time_ns < ?`}
	args := []any{from, step, from, q.To().UnixNano()}
	where, args = s.d.trendConds(q, where, args)
	return queryAll(ctx, s.rdb, "event trend", scanTrendCount,
		`SELECT (e.time_ns - ?) / ?, `+trendColumns[q.By]+`, count(*) FROM events e WHERE `+strings.Join(where, ` AND `)+` GROUP BY 1, 2`, args...)
}

// trendConds adds q's visibility, category, types and outcome to a trend's
// conditions; events and event_rollups (both as e) have those columns.
func (d dialect) trendConds(q model.TrendQuery, where []string, args []any) ([]string, []any) {
	if cond, a := d.visibilityCond(q.Visibility); cond != "" {
		where = append(where, cond)
		args = append(args, a...)
	}
	if q.Category != "" {
		where = append(where, d.noIndex(`e.category`)+` = ?`)
		args = append(args, q.Category)
	}
	if len(q.Types) > 0 {
		where = append(where, d.noIndex(`e.type`)+` IN (`+placeholders(len(q.Types))+`)`)
		for _, t := range q.Types {
			args = append(args, t)
		}
	}
	if q.Outcome != "" {
		where = append(where, d.noIndex(`e.outcome`)+` = ?`)
		args = append(args, q.Outcome)
	}
	return where, args
}

func scanTrendCount(sc scanner) (model.TrendCount, error) {
	var c model.TrendCount
	return c, sc.Scan(&c.Bucket, &c.Key, &c.Count)
}

// ReceivedSince returns how many stored events were received at or after
// t, and the first of them (0 when there is none): exactly the events with
// an id at or above it. Sequence ids follow the order of receipt closely
// (the writer commits in arrival order), so the first id received at t is
// found by a binary search over the primary key instead of a scan.
func (s *Store) ReceivedSince(ctx context.Context, t time.Time) (n, first int64, err error) {
	var lo, hi int64
	// Two subqueries: SQLite answers a lone min() or max() from the index.
	err = s.rdb.QueryRowContext(ctx, `SELECT coalesce((SELECT min(id) FROM events), 0), coalesce((SELECT max(id) FROM events), 0)`).Scan(&lo, &hi)
	if err != nil {
		return 0, 0, fmt.Errorf("store: received since: %w", err)
	}
	if hi == 0 {
		return 0, 0, nil
	}
	last, hiID := hi, hi
	hi++ // the answer lies in [lo, hi]; hi means "none"
	at := t.UnixNano()
	for lo < hi {
		mid := lo + (hi-lo)/2
		var id, received int64
		err := s.rdb.QueryRowContext(ctx, `SELECT id, received_at FROM events WHERE id >= ? ORDER BY id LIMIT 1`, mid).Scan(&id, &received)
		if errors.Is(err, sql.ErrNoRows) {
			hi = mid
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("store: received since: %w", err)
		}
		if received >= at {
			hi = mid
		} else {
			lo = id + 1
		}
	}
	if lo > hiID {
		return 0, 0, nil
	}
	return last - lo + 1, lo, nil
}

// CertificateExpiry counts the watched certificates (current: neither
// replaced nor revoked) that have expired and that expire within 7 and 30
// days (each count includes the expired ones, as the expiring_within
// filter does).
type CertificateExpiry struct {
	Expired, Within7d, Within30d int
}

// CountCertificateExpiry counts the watched certificates by expiry at now.
func (s *Store) CountCertificateExpiry(ctx context.Context, now time.Time) (CertificateExpiry, error) {
	var c CertificateExpiry
	day := int64(24 * time.Hour)
	err := s.rdb.QueryRowContext(ctx, `SELECT
		count(*) FILTER (WHERE not_after_ns <= ?), count(*) FILTER (WHERE not_after_ns <= ?),
		count(*) FILTER (WHERE not_after_ns <= ?)
		FROM certificates WHERE replaced_at IS NULL AND revoked_at IS NULL`,
		now.UnixNano(), now.UnixNano()+7*day, now.UnixNano()+30*day).Scan(&c.Expired, &c.Within7d, &c.Within30d)
	if err != nil {
		return c, fmt.Errorf("store: count certificate expiry: %w", err)
	}
	return c, nil
}

// FailedJobTrend counts the jobs that failed on each of days UTC days from
// the midnight from, by job type.
func (s *Store) FailedJobTrend(ctx context.Context, from time.Time, days int) ([]model.TrendCount, error) {
	return s.dailyTrend(ctx, "failed job trend", "jobs", "completed_at", "type", `status = 'FAILED'`, from, days)
}

// dailyTrend counts the rows of table per UTC day of the text time column
// timeCol (to the second, as the listings filter it) and per keyCol, over
// days days from the midnight from. The names are the callers' constants.
func (s *Store) dailyTrend(ctx context.Context, what, table, timeCol, keyCol, cond string, from time.Time, days int) ([]model.TrendCount, error) {
	from = from.UTC()
	where, args := s.d.timeRangeConds(timeCol, from, from.AddDate(0, 0, days).Add(-time.Nanosecond))
	if cond != "" {
		where = append(where, cond)
	}
	type row struct {
		day, key string
		n        int
	}
	rows, err := queryAll(ctx, s.rdb, what, func(sc scanner) (row, error) {
		var r row
		return r, sc.Scan(&r.day, &r.key, &r.n)
	}, `SELECT substr(`+s.d.secondOf(timeCol)+`, 1, 10), `+keyCol+`, count(*) FROM `+table+whereSQL(where)+` GROUP BY 1, 2`, args...)
	if err != nil {
		return nil, err
	}
	out := make([]model.TrendCount, 0, len(rows))
	for _, r := range rows {
		d, err := time.Parse("2006-01-02", r.day)
		if err != nil {
			return nil, fmt.Errorf("store: %s: day %q: %w", what, r.day, err)
		}
		out = append(out, model.TrendCount{Bucket: int(d.Sub(from) / (24 * time.Hour)), Key: r.key, Count: r.n})
	}
	return out, nil
}
