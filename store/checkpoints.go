package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"vigil/model"
)

// StoredCheckpoint is a checkpoint as kept in the database: its content,
// its signed note and, once a time-stamping authority stamped it, its
// RFC 3161 token.
type StoredCheckpoint struct {
	ID int64
	model.Checkpoint
	Note      string
	Timestamp *model.Timestamp // nil: not stamped
}

// CreateCheckpoint signs the current tree head with key and stores it.
func (s *Store) CreateCheckpoint(ctx context.Context, key *model.CheckpointKey) (StoredCheckpoint, error) {
	head, err := s.TreeHead(ctx)
	if err != nil {
		return StoredCheckpoint{}, err
	}
	stored, err := s.insertCheckpoint(ctx, s.wdb, key, head)
	if err != nil {
		return StoredCheckpoint{}, err
	}
	return stored, s.keepLatest(stored)
}

// SignCheckpoint is CreateCheckpoint for a person's request: the checkpoint
// is stored in the event writer's transaction with the events audit
// returns for it (which the checkpoint does not cover), so that it is
// never stored without its record. audit must not call the store.
func (s *Store) SignCheckpoint(ctx context.Context, key *model.CheckpointKey, audit func(StoredCheckpoint) ([]model.Event, error)) (StoredCheckpoint, error) {
	var stored StoredCheckpoint
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		var head TreeHead
		if err := tx.QueryRow(`SELECT coalesce(max(id), 0) FROM events`).Scan(&head.Size); err != nil {
			return nil, fmt.Errorf("store: sign checkpoint: %w", err)
		}
		r, err := loadRange(ctx, tx, head.Size)
		if err != nil {
			return nil, fmt.Errorf("store: sign checkpoint: %w", err)
		}
		if head.Root, err = rootOf(r); err != nil {
			return nil, fmt.Errorf("store: sign checkpoint: %w", err)
		}
		if stored, err = s.insertCheckpoint(ctx, tx, key, head); err != nil {
			return nil, err
		}
		events, err := audit(stored)
		if err == nil && len(events) == 0 {
			err = errors.New("store: a checkpoint signed on request without its record")
		}
		return events, err
	})
	if err != nil {
		return StoredCheckpoint{}, err
	}
	return stored, s.keepLatest(stored)
}

// execer is a database or a transaction to write through.
type execer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// insertCheckpoint signs head with key and stores the checkpoint through db.
func (s *Store) insertCheckpoint(ctx context.Context, db execer, key *model.CheckpointKey, head TreeHead) (StoredCheckpoint, error) {
	cp := model.Checkpoint{Origin: key.Origin(), Size: head.Size, Root: head.Root, Time: s.now().UTC().Truncate(time.Second)}
	note, err := key.Sign(cp)
	if err != nil {
		return StoredCheckpoint{}, err
	}
	var id int64
	err = db.QueryRowContext(ctx, `INSERT INTO checkpoints (tree_size, root_hash, created_at, note) VALUES (?, ?, ?, ?) RETURNING id`,
		cp.Size, cp.Root, timeText(cp.Time), note).Scan(&id)
	if err != nil {
		return StoredCheckpoint{}, fmt.Errorf("store: create checkpoint: %w", err)
	}
	return StoredCheckpoint{ID: id, Checkpoint: cp, Note: note}, nil
}

// keepLatest writes a checkpoint's note to the file outside the database,
// if there is one.
func (s *Store) keepLatest(cp StoredCheckpoint) error {
	if s.latestFile == "" {
		return nil
	}
	if err := writeFileAtomic(s.latestFile, []byte(cp.Note)); err != nil {
		return fmt.Errorf("store: keep latest checkpoint: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data durably: a temporary file is
// written, synced and renamed over it.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CheckExtends returns an error saying how the database fails to extend
// checkpoint cp: it holds fewer events, or a different history.
func (s *Store) CheckExtends(ctx context.Context, cp model.Checkpoint) error {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: check checkpoint: %w", err)
	}
	defer tx.Rollback()
	var size uint64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&size); err != nil {
		return fmt.Errorf("store: check checkpoint: %w", err)
	}
	if size < cp.Size {
		return fmt.Errorf("the checkpoint of %s covers %d events but the database holds %d: an older copy of the database was restored or events were cut",
			cp.Time.UTC().Format(time.RFC3339), cp.Size, size)
	}
	r, err := loadRange(ctx, tx, cp.Size)
	if err != nil {
		return fmt.Errorf("store: check checkpoint: %w", err)
	}
	root, err := rootOf(r)
	if err != nil {
		return fmt.Errorf("store: check checkpoint: %w", err)
	}
	if !bytes.Equal(root, cp.Root) {
		return fmt.Errorf("the tree of the first %d events differs from the checkpoint of %s: history was rewritten", cp.Size, cp.Time.UTC().Format(time.RFC3339))
	}
	return nil
}

// AttachTimestamp stores ts, a time-stamp token over checkpoint id's
// signed note, with the checkpoint. A checkpoint keeps its first token.
func (s *Store) AttachTimestamp(ctx context.Context, id int64, ts model.Timestamp) error {
	res, err := s.wdb.ExecContext(ctx, `UPDATE checkpoints SET timestamp_token = ?, timestamp_time = ? WHERE id = ? AND timestamp_token IS NULL`,
		ts.Token, timeText(ts.Time), id)
	if err != nil {
		return fmt.Errorf("store: attach timestamp: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return model.Errorf(model.ECONFLICT, "checkpoint %d does not exist or is stamped already", id)
	}
	return nil
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
		limit = math.MaxInt64 // no limit
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, tree_size, root_hash, created_at, note, timestamp_token, timestamp_time
		FROM checkpoints ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: checkpoints: %w", err)
	}
	defer rows.Close()
	var out []StoredCheckpoint
	for rows.Next() {
		var c StoredCheckpoint
		var created string
		var token []byte
		var stamped sql.NullString
		if err := rows.Scan(&c.ID, &c.Size, &c.Root, &created, &c.Note, &token, &stamped); err != nil {
			return nil, fmt.Errorf("store: checkpoints: %w", err)
		}
		c.Time = parseTimeText(created)
		if token != nil {
			c.Timestamp = &model.Timestamp{Token: token, Time: parseTimeText(stamped.String)}
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
