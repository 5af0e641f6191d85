package store

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"

	"vigil/model"
)

// Idempotency keys (SPEC §2 event_id). An event with both a Sender and an
// EventID is stored under the key (sender, event_id) in event_keys, with
// the hash of its content. A later event under the same key is a
// duplicate when its content hash is the same, and a conflict otherwise;
// a request with a conflict is refused whole. Events without a Sender are
// never de-duplicated.

// contentDomain starts the encoding a content hash is taken over.
const contentDomain = "vigil-content-v1\x00"

// sentContentHash returns the hash of what the sender sent: the event's
// canonical row without what Vigil adds (sequence id, receive time,
// source) and without its time when that defaulted to the receive time, so
// that a retry without a time is the same content.
func sentContentHash(e *model.Event, buf []byte) ([HashSize]byte, []byte) {
	r := toRow(0, e)
	r.receivedAt, r.source = 0, ""
	if e.Time.Equal(e.ReceivedAt) {
		r.time, r.timeNS = "", 0
	}
	buf = append(buf[:0], contentDomain...)
	buf = r.canonical(buf)
	return sha256.Sum256(buf), buf
}

// eventKey is an idempotency key.
type eventKey struct{ sender, eventID string }

// storedKey is what a key points to: the event stored under it and the
// hash of its content.
type storedKey struct {
	id   int64
	hash [HashSize]byte
}

// keyPlan says what becomes of one event of a request.
type keyPlan struct {
	keyed bool           // stored under its key (when new)
	hash  [HashSize]byte // its content hash, when keyed
	dup   bool           // not stored: a repeat with the same content
	dupID int64          // the stored event it repeats (0: dupOf)
	dupOf int            // the earlier item of the request it repeats
}

// txKeys looks keys up inside the writer's transaction: among those this
// transaction stored, then in event_keys.
type txKeys struct {
	find *sql.Stmt
	seen map[eventKey]storedKey
	// asked are the keys prefetch looked up: found, with what they point
	// to, or not (false).
	asked map[eventKey]storedKey
}

// prefetch looks up, in one statement, the keys of the events of batch
// (those an apply function makes later are looked up one by one).
func (k *txKeys) prefetch(tx *sql.Tx, batch []*appendReq) error {
	var senders, ids []string
	for _, req := range batch {
		for i := range req.events {
			if e := &req.events[i]; e.Sender != "" && e.EventID != "" {
				senders, ids = append(senders, e.Sender), append(ids, e.EventID)
			}
		}
	}
	if len(senders) == 0 {
		return nil
	}
	k.asked = make(map[eventKey]storedKey, len(senders))
	for i := range senders {
		k.asked[eventKey{senders[i], ids[i]}] = storedKey{}
	}
	rows, err := tx.Query(`SELECT k.sender, k.event_id, k.id, k.content_hash FROM event_keys k
		JOIN unnest(?::text[], ?::text[]) AS q(sender, event_id) ON k.sender = q.sender AND k.event_id = q.event_id`, senders, ids)
	if err != nil {
		return fmt.Errorf("look up event keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key eventKey
		var s storedKey
		var hash []byte
		if err := rows.Scan(&key.sender, &key.eventID, &s.id, &hash); err != nil {
			return fmt.Errorf("look up event keys: %w", err)
		}
		copy(s.hash[:], hash)
		k.asked[key] = s
	}
	return rows.Err()
}

func (k *txKeys) lookup(key eventKey) (storedKey, bool, error) {
	if s, ok := k.seen[key]; ok {
		return s, true, nil
	}
	if s, ok := k.asked[key]; ok {
		return s, s.id != 0, nil
	}
	var s storedKey
	var hash []byte
	switch err := k.find.QueryRow(key.sender, key.eventID).Scan(&s.id, &hash); {
	case errors.Is(err, sql.ErrNoRows):
		return s, false, nil
	case err != nil:
		return s, false, fmt.Errorf("look up event key: %w", err)
	}
	copy(s.hash[:], hash)
	return s, true, nil
}

// planKeys checks the keys of a request's events before any is stored.
// It returns what to do with each event or, when some event repeats a key
// with different content, the refusal naming each such item.
func (k *txKeys) planKeys(events []model.Event, buf []byte) ([]keyPlan, *model.Error, []byte, error) {
	var plan []keyPlan
	var inReq map[eventKey]int
	var items []model.ItemError
	for i := range events {
		e := &events[i]
		if e.Sender == "" || e.EventID == "" {
			continue
		}
		if plan == nil {
			plan, inReq = make([]keyPlan, len(events)), map[eventKey]int{}
		}
		p := &plan[i]
		p.hash, buf = sentContentHash(e, buf)
		key := eventKey{e.Sender, e.EventID}
		if j, ok := inReq[key]; ok {
			if plan[j].hash != p.hash {
				items = append(items, model.ItemError{Index: i, Reason: fmt.Sprintf(
					"event_id %q is used by item %d of this batch with different content", e.EventID, j)})
				continue
			}
			p.dup, p.dupOf = true, j
			continue
		}
		stored, ok, err := k.lookup(key)
		if err != nil {
			return nil, nil, buf, err
		}
		if ok {
			if stored.hash != p.hash {
				items = append(items, model.ItemError{Index: i, Reason: fmt.Sprintf(
					"event_id %q was already stored as event %d with different content", e.EventID, stored.id)})
				continue
			}
			p.dup, p.dupID = true, stored.id
			continue
		}
		p.keyed = true
		inReq[key] = i
	}
	if len(items) > 0 {
		return nil, &model.Error{Code: model.ECONFLICT, Items: items, Message: fmt.Sprintf(
			"%d item(s) reuse an event_id of this sender with different content; nothing of this batch was stored",
			len(items))}, buf, nil
	}
	return plan, nil, buf, nil
}
