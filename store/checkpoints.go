package store

import (
	"context"
	"fmt"
	"time"

	"vigil/model"
)

// StoredCheckpoint is a checkpoint as kept in the database: its content and
// its signed note.
type StoredCheckpoint struct {
	ID int64
	model.Checkpoint
	Note string
}

// CreateCheckpoint signs the current tree head with key and stores it.
func (s *Store) CreateCheckpoint(ctx context.Context, key *model.CheckpointKey) (StoredCheckpoint, error) {
	head, err := s.TreeHead(ctx)
	if err != nil {
		return StoredCheckpoint{}, err
	}
	cp := model.Checkpoint{Origin: key.Origin(), Size: head.Size, Root: head.Root, Time: s.now().UTC().Truncate(time.Second)}
	note, err := key.Sign(cp)
	if err != nil {
		return StoredCheckpoint{}, err
	}
	res, err := s.wdb.ExecContext(ctx, `INSERT INTO checkpoints (tree_size, root_hash, created_at, note) VALUES (?, ?, ?, ?)`,
		cp.Size, cp.Root, timeText(cp.Time), note)
	if err != nil {
		return StoredCheckpoint{}, fmt.Errorf("store: create checkpoint: %w", err)
	}
	id, _ := res.LastInsertId()
	return StoredCheckpoint{ID: id, Checkpoint: cp, Note: note}, nil
}

// LatestCheckpoint returns the newest stored checkpoint.
func (s *Store) LatestCheckpoint(ctx context.Context) (StoredCheckpoint, error) {
	cps, err := s.Checkpoints(ctx, 1)
	if err != nil {
		return StoredCheckpoint{}, err
	}
	if len(cps) == 0 {
		return StoredCheckpoint{}, model.Errorf(model.ENOTFOUND, "no checkpoint has been made yet")
	}
	return cps[0], nil
}

// Checkpoints returns up to limit stored checkpoints, newest first (limit
// 0: all).
func (s *Store) Checkpoints(ctx context.Context, limit int) ([]StoredCheckpoint, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, tree_size, root_hash, created_at, note FROM checkpoints ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: checkpoints: %w", err)
	}
	defer rows.Close()
	var out []StoredCheckpoint
	for rows.Next() {
		var c StoredCheckpoint
		var created string
		if err := rows.Scan(&c.ID, &c.Size, &c.Root, &created, &c.Note); err != nil {
			return nil, fmt.Errorf("store: checkpoints: %w", err)
		}
		c.Time = parseTimeText(created)
		out = append(out, c)
	}
	return out, rows.Err()
}
