package store

import (
	"bytes"
	"context"
	"fmt"
)

// ChainReport is the outcome of walking the hash chain.
type ChainReport struct {
	OK       bool   `json:"ok"`
	Checked  int64  `json:"checked"`
	FirstBad *int64 `json:"first_bad"`
	Reason   string `json:"reason,omitempty"`
	LastID   int64  `json:"last_id"`
	LastHash string `json:"last_hash,omitempty"`
}

// VerifyChain walks every event in sequence order inside one read
// snapshot, recomputing each hash from the row and its predecessor's hash.
// The first edited, missing or reordered row is named in FirstBad.
func (s *Store) VerifyChain(ctx context.Context) (ChainReport, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+eventColumns+` FROM events ORDER BY id`)
	if err != nil {
		return ChainReport{}, fmt.Errorf("store: verify: %w", err)
	}
	defer rows.Close()
	var rep ChainReport
	prev := make([]byte, HashSize)
	var prevID int64
	var buf []byte
	bad := func(id int64, format string, args ...any) (ChainReport, error) {
		rep.FirstBad = &id
		rep.Reason = fmt.Sprintf(format, args...)
		return rep, nil
	}
	for rows.Next() {
		r, stored, err := scanRow(rows)
		if err != nil {
			return rep, fmt.Errorf("store: verify: %w", err)
		}
		switch {
		case r.id <= prevID:
			return bad(prevID+1, "event %d is out of order", r.id)
		case r.id != prevID+1:
			return bad(prevID+1, "event %d is missing", prevID+1)
		}
		var sum [HashSize]byte
		sum, buf = chainHash(prev, &r, buf)
		if !bytes.Equal(sum[:], stored) {
			return bad(r.id, "event %d does not match its hash", r.id)
		}
		prev, prevID = stored, r.id
		rep.Checked++
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("store: verify: %w", err)
	}
	rep.OK = true
	rep.LastID = prevID
	if prevID > 0 {
		rep.LastHash = fmt.Sprintf("%x", prev)
	}
	return rep, nil
}
