package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// RetentionPolicy says which events retention removes, by receive time.
type RetentionPolicy struct {
	Cutoff      time.Time // events other than AUDIT_LOG received before it; zero: none
	AuditCutoff time.Time // AUDIT_LOG events received before it; zero: none
	ChunkSize   int       // events removed per transaction (default 2000)
}

// RetentionResult says what a retention run removed and where the chain
// now starts.
type RetentionResult struct {
	Removed  int64
	FirstID  int64 // lowest id removed
	LastID   int64 // highest id removed
	BaseID   int64 // every event up to it is gone; the chain continues from
	BaseHash []byte
}

// ChainBase returns the id and hash the chain continues from: (0, zeros)
// until retention has removed a whole prefix.
func chainBase(ctx context.Context, q querier) (int64, []byte, error) {
	var id int64
	var h []byte
	err := q.QueryRowContext(ctx, `SELECT base_id, base_hash FROM chain_base`).Scan(&id, &h)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, make([]byte, HashSize), nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read chain base: %w", err)
	}
	return id, h, nil
}

// ApplyRetention removes the events p selects, oldest first, in chunks of
// one short transaction each so that ingest is never held up for long. The
// newest block of 256 events is always kept, so the chain's tip and the
// Merkle tree's right edge stay in place. Each removed event leaves its hash
// behind (pruned_events) until the whole 256-event block around it is gone;
// then the chain base moves past the block.
func (s *Store) ApplyRetention(ctx context.Context, p RetentionPolicy) (RetentionResult, error) {
	var res RetentionResult
	if p.ChunkSize <= 0 {
		p.ChunkSize = 2000
	}
	cut, auditCut := int64(math.MinInt64), int64(math.MinInt64)
	if !p.Cutoff.IsZero() {
		cut = p.Cutoff.UnixNano()
	}
	if !p.AuditCutoff.IsZero() {
		auditCut = p.AuditCutoff.UnixNano()
	}
	var maxID int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&maxID); err != nil {
		return res, fmt.Errorf("store: retention: %w", err)
	}
	limitID := maxID / (1 << storedLevel) * (1 << storedLevel)
	after, _, err := chainBase(ctx, s.rdb)
	if err != nil {
		return res, fmt.Errorf("store: retention: %w", err)
	}
	for {
		// Candidates are found on a reader, outside the write transaction.
		rows, err := s.rdb.QueryContext(ctx, `SELECT id FROM events WHERE id > ? AND id <= ?
			AND CASE WHEN category = 'AUDIT_LOG' THEN received_at < ? ELSE received_at < ? END
			ORDER BY id LIMIT ?`, after, limitID, auditCut, cut, p.ChunkSize)
		if err != nil {
			return res, fmt.Errorf("store: retention: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, fmt.Errorf("store: retention: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		if err := s.removeChunk(ctx, ids, &res); err != nil {
			return res, err
		}
		after = ids[len(ids)-1]
		if len(ids) < p.ChunkSize {
			break
		}
	}
	res.BaseID, res.BaseHash, err = chainBase(ctx, s.rdb)
	if err != nil {
		return res, fmt.Errorf("store: retention: %w", err)
	}
	return res, nil
}

// removeChunk deletes ids in one transaction, keeping their hashes, and
// moves the chain base past every fully removed 256-event block.
func (s *Store) removeChunk(ctx context.Context, ids []int64, res *RetentionResult) (err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: retention: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			err = fmt.Errorf("store: retention: %w", err)
		}
	}()
	if _, err := tx.ExecContext(ctx, `INSERT INTO retention_gate (open) VALUES (1)`); err != nil {
		return err
	}
	keep, err := tx.PrepareContext(ctx, `INSERT INTO pruned_events (id, hash) SELECT id, hash FROM events WHERE id = ?`)
	if err != nil {
		return err
	}
	del, err := tx.PrepareContext(ctx, `DELETE FROM events WHERE id = ?`)
	if err != nil {
		return err
	}
	for _, id := range ids {
		for _, st := range []*sql.Stmt{keep, del} {
			if _, err := st.ExecContext(ctx, id); err != nil {
				return err
			}
		}
	}
	// Move the base past the blocks now wholly removed.
	base, _, err := chainBase(ctx, tx)
	if err != nil {
		return err
	}
	var minKept sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT min(id) FROM events`).Scan(&minKept); err != nil {
		return err
	}
	if minKept.Valid {
		if newBase := (minKept.Int64 - 1) / (1 << storedLevel) * (1 << storedLevel); newBase > base {
			var h []byte
			if err := tx.QueryRowContext(ctx, `SELECT hash FROM pruned_events WHERE id = ?`, newBase).Scan(&h); err != nil {
				return fmt.Errorf("hash of event %d: %w", newBase, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO chain_base (one, base_id, base_hash, updated_at) VALUES (1, ?, ?, ?)
				ON CONFLICT (one) DO UPDATE SET base_id = excluded.base_id, base_hash = excluded.base_hash, updated_at = excluded.updated_at`,
				newBase, h, timeText(s.now())); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM pruned_events WHERE id <= ?`, newBase); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM retention_gate`); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// The index follows; should this fail, searches join its entries to
	// events that are gone and find nothing for them.
	if err := s.ix.remove(ctx, ids); err != nil {
		return fmt.Errorf("unindex removed events: %w", err)
	}
	if res.FirstID == 0 {
		res.FirstID = ids[0]
	}
	res.LastID = ids[len(ids)-1]
	res.Removed += int64(len(ids))
	return nil
}
