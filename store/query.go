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

// queryAll runs q on db and scans every row with scan; what names the
// query in errors. The result is never nil.
func queryAll[T any](ctx context.Context, db querier, what string, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func scanInt64(sc scanner) (int64, error) {
	var n int64
	err := sc.Scan(&n)
	return n, err
}

// queryOne runs q, which selects at most one row, and scans it. No row is
// an ENOTFOUND error saying "<what> not found".
func queryOne[T any](ctx context.Context, db querier, what string, scan func(scanner) (T, error), q string, args ...any) (T, error) {
	v, err := scan(db.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, model.Errorf(model.ENOTFOUND, "%s not found", what)
	}
	if err != nil {
		return v, fmt.Errorf("store: %s: %w", what, err)
	}
	return v, nil
}

// listLimit is the page size of a listing: limit, or the default when it
// is unset or too large.
func listLimit(limit int) int {
	if limit <= 0 || limit > model.MaxLimit {
		return model.DefaultLimit
	}
	return limit
}

// whereSQL joins conditions into a WHERE clause; "" for none.
func whereSQL(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return ` WHERE ` + strings.Join(conds, ` AND `)
}

// Times in the watch tables (alerts, jobs) are RFC 3339 text with varying
// fractions; they are compared to the second through secondOf, the same
// expression in filters and in the dashboard's per-day counts, so a day's
// bar and the page it links to always agree.
const secondLayout = "2006-01-02T15:04:05"

// timeRangeConds returns the conditions that keep col between from and
// to (each optional, inclusive), to the second.
func (d dialect) timeRangeConds(col string, from, to time.Time) ([]string, []any) {
	var conds []string
	var args []any
	if !from.IsZero() {
		// Round up: a time within the second before from is excluded.
		if t := from.UTC().Truncate(time.Second); t.Before(from) {
			from = t.Add(time.Second)
		}
		conds, args = append(conds, d.secondOf(col)+` >= ?`), append(args, from.UTC().Format(secondLayout))
	}
	if !to.IsZero() {
		conds, args = append(conds, d.secondOf(col)+` <= ?`), append(args, to.UTC().Format(secondLayout))
	}
	return conds, args
}

// rowsPerStatement bounds the parameters of one execRows statement, below
// SQLite's limit (32,766) and PostgreSQL's (65,535).
const rowsPerStatement = 8000

// execRows runs insert (an INSERT naming its columns) with rows as VALUES,
// followed by suffix (an ON CONFLICT clause or ""), as few statements as
// the parameter limit allows. Every row has the same number of values.
func execRows(ctx context.Context, tx *sql.Tx, insert, suffix string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	per := max(1, rowsPerStatement/len(rows[0]))
	tuple := `(` + placeholders(len(rows[0])) + `)`
	for len(rows) > 0 {
		n := min(per, len(rows))
		var q strings.Builder
		q.WriteString(insert)
		q.WriteString(` VALUES `)
		args := make([]any, 0, n*len(rows[0]))
		for i, r := range rows[:n] {
			if i > 0 {
				q.WriteString(`, `)
			}
			q.WriteString(tuple)
			args = append(args, r...)
		}
		q.WriteString(suffix)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}
