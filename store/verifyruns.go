package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"vigil/model"
)

// VerifyRun is one scheduled verification of the whole log and what it
// found.
type VerifyRun struct {
	ID                  int64
	StartedAt, Finished time.Time
	ChainReport
}

// RecordVerifyRun stores a finished verification.
func (s *Store) RecordVerifyRun(ctx context.Context, r VerifyRun) (VerifyRun, error) {
	var firstBad sql.NullInt64
	if r.FirstBad != nil {
		firstBad = sql.NullInt64{Int64: *r.FirstBad, Valid: true}
	}
	err := s.wdb.QueryRowContext(ctx, `INSERT INTO verify_runs (started_at, finished_at, ok, checked, tree_size, first_bad, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, timeText(r.StartedAt), timeText(r.Finished), flag(r.OK), r.Checked, r.TreeSize, firstBad, r.Reason).Scan(&r.ID)
	if err != nil {
		return r, fmt.Errorf("store: record verify run: %w", err)
	}
	return r, nil
}

// LatestVerifyRun returns the newest recorded verification.
func (s *Store) LatestVerifyRun(ctx context.Context) (VerifyRun, error) {
	var r VerifyRun
	var started, finished string
	var firstBad sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT id, started_at, finished_at, ok, checked, tree_size, first_bad, reason
		FROM verify_runs ORDER BY id DESC LIMIT 1`).Scan(&r.ID, &started, &finished, &r.OK, &r.Checked, &r.TreeSize, &firstBad, &r.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return r, model.Errorf(model.ENOTFOUND, "the log has not been verified on schedule yet")
	}
	if err != nil {
		return r, fmt.Errorf("store: latest verify run: %w", err)
	}
	r.StartedAt, r.Finished = parseTimeText(started), parseTimeText(finished)
	if firstBad.Valid {
		r.FirstBad = &firstBad.Int64
	}
	return r, nil
}
