package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// verifyFailure is a check that failed: the event it names (0: none) and why.
type verifyFailure struct {
	id     int64
	reason string
}

// retentionCheck holds what VerifyChain needs to hold retention to account
// (store/retention.go): the newest retention record, which covers every
// removed and redacted event, and the acknowledgement of what was removed
// before records were kept.
type retentionCheck struct {
	newestID int64           // the newest retention record; 0: none
	rec      retentionRecord // its details
	rule     retentionRule
	listed   map[int64]bool // retention_records
	// covered: every event up to it may be missing.
	covered int64
	// lastRemovedID's hash must be wantLastHash; the walk fills in
	// lastRemovedHash.
	lastRemovedID   int64
	lastRemovedHash []byte
	wantLastHash    []byte
	base            int64

	ackID    int64 // the acknowledgement of earlier retention; 0: none
	ackLast  int64 // the last removed id it acknowledges
	legacyOK bool  // the hashes it acknowledges are still those

	digest *redactionDigest
	// rules are the rules of the listed records still stored, read before
	// the walk; the walk checks each record's hash when it meets it.
	rules map[int64]retentionRule
}

// loadRetention reads the newest retention record and the acknowledgement
// of earlier retention, before the walk.
func loadRetention(ctx context.Context, tx *sql.Tx, base int64, baseHash []byte) (*retentionCheck, *verifyFailure, error) {
	c := &retentionCheck{listed: map[int64]bool{}, rules: map[int64]retentionRule{}, base: base}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM retention_records`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, nil, err
		}
		c.listed[id] = true
		c.newestID = max(c.newestID, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	readRecord := func(id int64, typ string, into any) (*verifyFailure, error) {
		r, _, err := scanRow(tx.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return &verifyFailure{id, fmt.Sprintf("event %d, a retention record, is missing", id)}, nil
		}
		if err != nil || !r.isRecord() || r.typ != typ || json.Unmarshal([]byte(r.details), into) != nil {
			return &verifyFailure{id, fmt.Sprintf("event %d is listed as a retention record (%s) but is not one", id, typ)}, nil
		}
		return nil, nil
	}
	if err := c.loadRules(ctx, tx); err != nil {
		return nil, nil, err
	}
	if c.newestID > 0 {
		if f, err := readRecord(c.newestID, RetentionRecordType, &c.rec); f != nil || err != nil {
			return nil, f, err
		}
		var err error
		c.rule, err = c.rec.rule()
		c.wantLastHash, _ = hex.DecodeString(c.rec.LastRemovedHash)
		if err != nil || len(c.wantLastHash) != HashSize {
			return nil, &verifyFailure{c.newestID, fmt.Sprintf("retention record %d cannot be read", c.newestID)}, nil
		}
		c.covered = c.rec.LastRemovedID
		c.lastRemovedID = c.rec.LastRemovedID
		if c.lastRemovedID == base {
			c.lastRemovedHash = baseHash
		}
		c.digest = newRedactionDigest()
	}

	var ack sql.NullInt64
	switch err := tx.QueryRowContext(ctx, `SELECT record_id FROM retention_legacy`).Scan(&ack); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, nil, err
	case !ack.Valid:
		return nil, &verifyFailure{0, "what retention removed before it kept records in the chain has not been acknowledged yet (start vigil once)"}, nil
	default:
		c.ackID = ack.Int64
		var d struct {
			BaseID   int64  `json:"chain_base_id"`
			BaseHash string `json:"chain_base_hash"`
			Digest   string `json:"removed_digest"`
			Last     int64  `json:"last_removed_id"`
		}
		f, err := readRecord(c.ackID, RetentionLegacyType, &d)
		if err != nil {
			return nil, nil, err
		}
		if f != nil {
			if c.ackID > c.covered {
				return nil, f, nil
			}
			// Removed since, with everything before it, under a record.
			break
		}
		digest, _, _, _, err := legacyDigest(ctx, tx, d.Last)
		if err != nil {
			return nil, nil, err
		}
		if digest != d.Digest {
			return nil, &verifyFailure{0, fmt.Sprintf("the hashes of the events removed before retention kept records no longer match event %d, which acknowledged them", c.ackID)}, nil
		}
		if base == d.BaseID && fmt.Sprintf("%x", baseHash) != d.BaseHash {
			return nil, &verifyFailure{base, fmt.Sprintf("the chain base (event %d) no longer has the hash event %d acknowledged", base, c.ackID)}, nil
		}
		c.legacyOK, c.ackLast = true, d.Last
		c.covered = max(c.covered, d.BaseID)
	}
	if base > c.covered {
		return nil, &verifyFailure{c.covered + 1, fmt.Sprintf("events up to %d were removed, but no retention record in the chain covers event %d", base, c.covered+1)}, nil
	}
	return c, nil, nil
}

// loadRules reads the rules of every listed record still stored. One that
// is not a record, or cannot be read, is left out: an event it redacted
// fails, and the walk names the record itself.
func (c *retentionCheck) loadRules(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id IN (SELECT id FROM retention_records) AND type = ?`, RetentionRecordType)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, _, err := scanRow(rows)
		if err != nil {
			return err
		}
		var rec retentionRecord
		if !r.isRecord() || json.Unmarshal([]byte(r.details), &rec) != nil {
			continue
		}
		if rule, err := rec.rule(); err == nil {
			c.rules[r.id] = rule
		}
	}
	return rows.Err()
}

// removable says why event id, removed, is not covered ("" when it is).
// kept is whether an event below it is stored.
func (c *retentionCheck) removable(id int64, legacy, kept bool) string {
	switch {
	case legacy && c.legacyOK && id <= c.ackLast:
		return ""
	case kept:
		return "from among kept events: retention removes only the oldest events, and no retention record covers it"
	case id > c.covered:
		return "but no retention record in the chain covers it"
	}
	return ""
}

// redacted checks a redacted event r with chain hash h, and says why it is
// not covered ("" when it may be).
func (c *retentionCheck) redacted(r *row, h []byte) string {
	by, ch, ok := redactedParts(r)
	if !ok {
		return "but is not in the form retention redacts to"
	}
	if by <= r.id {
		return fmt.Sprintf("naming record %d, which does not follow it", by)
	}
	switch {
	case c.newestID > 0 && r.id <= c.rec.LastRemovedID:
		// About to be removed, under the newest record.
	case c.newestID == 0 || r.id > c.rec.Redaction.LastID:
		return "but no retention record in the chain covers it"
	default:
		c.digest.add(r, h, ch)
	}
	rule, ok := c.rules[by]
	switch {
	case !ok:
		return fmt.Sprintf("by event %d, which is not a retention record", by)
	case rule.held(r.tenant, r.receivedAt) >= 0:
		return fmt.Sprintf("but a legal hold that retention record %d states keeps it", by)
	case !rule.drops(r.category, r.tenant, r.receivedAt):
		return fmt.Sprintf("but the rule of retention record %d keeps it", by)
	}
	return ""
}

// intact notes an intact event r with chain hash h (already checked) and
// says what is wrong with it for retention ("" when nothing).
func (c *retentionCheck) intact(r *row, h []byte) string {
	if r.isRecord() {
		switch r.typ {
		case RetentionRecordType:
			var rec retentionRecord
			if !c.listed[r.id] || json.Unmarshal([]byte(r.details), &rec) != nil {
				return "is a retention record that is not listed in retention_records"
			}
			if _, err := rec.rule(); err != nil {
				return "is a retention record that cannot be read"
			}
		case RetentionLegacyType:
			if r.id != c.ackID {
				return "acknowledges earlier retention but is not the acknowledgement retention_legacy names"
			}
		}
	}
	if c.newestID > 0 && r.id > c.rec.LastRemovedID && r.id <= c.rec.Redaction.LastID && c.rule.redactable(r) {
		// Meant to be redacted by the newest record, not yet done (a run
		// was stopped): it is in the record's set all the same.
		c.digest.add(r, h, contentHash(r))
	}
	return ""
}

// finish makes the checks that need the whole walk.
func (c *retentionCheck) finish() *verifyFailure {
	if c.newestID == 0 {
		return nil
	}
	if got := c.digest.set(); got.Count != c.rec.Redaction.Count || got.Digest != c.rec.Redaction.Digest {
		return &verifyFailure{0, fmt.Sprintf("the redacted events do not match retention record %d (%d in its set, %d recorded): a redacted event's id, times, source, category, tenant or hash was changed, or an event was redacted outside retention",
			c.newestID, got.Count, c.rec.Redaction.Count)}
	}
	if c.lastRemovedID >= c.base && !bytes.Equal(c.lastRemovedHash, c.wantLastHash) {
		return &verifyFailure{c.lastRemovedID, fmt.Sprintf("event %d does not have the hash retention record %d states for the last event it removes", c.lastRemovedID, c.newestID)}
	}
	return nil
}
