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

// EventTrend counts the events of q per bucket and key, through the event
// time index. Buckets and keys without events are absent.
func (s *Store) EventTrend(ctx context.Context, q model.TrendQuery) ([]model.TrendCount, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	from, step := q.From.UnixNano(), int64(q.Step)
	where := []string{`e.time_ns >= ?`, `e.time_ns < ?`}
	args := []any{from, step, from, q.To().UnixNano()}
	if cond, a := visibilityCond(q.Visibility); cond != "" {
		where = append(where, cond)
		args = append(args, a...)
	}
	if q.Category != "" {
		where = append(where, `+e.category = ?`)
		args = append(args, q.Category)
	}
	if len(q.Types) > 0 {
		where = append(where, `+e.type IN (`+placeholders(len(q.Types))+`)`)
		for _, t := range q.Types {
			args = append(args, t)
		}
	}
	if q.Outcome != "" {
		where = append(where, `+e.outcome = ?`)
		args = append(args, q.Outcome)
	}
	col := trendColumns[q.By]
	rows, err := s.rdb.QueryContext(ctx, `SELECT (e.time_ns - ?) / ?, `+col+`, count(*) FROM events e
		WHERE `+strings.Join(where, ` AND `)+` GROUP BY 1, 2`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: event trend: %w", err)
	}
	defer rows.Close()
	var out []model.TrendCount
	for rows.Next() {
		var c model.TrendCount
		if err := rows.Scan(&c.Bucket, &c.Key, &c.Count); err != nil {
			return nil, fmt.Errorf("store: event trend: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: event trend: %w", err)
	}
	return out, nil
}

// ReceivedSince returns how many stored events were received at or after
// t. Sequence ids follow the order of receipt closely (the writer commits
// in arrival order), so the first id received at t is found by a binary
// search over the primary key instead of a scan.
func (s *Store) ReceivedSince(ctx context.Context, t time.Time) (int64, error) {
	var lo, hi int64
	// Two subqueries: SQLite answers a lone min() or max() from the index.
	err := s.rdb.QueryRowContext(ctx, `SELECT coalesce((SELECT min(id) FROM events), 0), coalesce((SELECT max(id) FROM events), 0)`).Scan(&lo, &hi)
	if err != nil {
		return 0, fmt.Errorf("store: received since: %w", err)
	}
	if hi == 0 {
		return 0, nil
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
			return 0, fmt.Errorf("store: received since: %w", err)
		}
		if received >= at {
			hi = mid
		} else {
			lo = id + 1
		}
	}
	if lo > hiID {
		return 0, nil
	}
	return last - lo + 1, nil
}
