package store

import (
	"database/sql"
)

// batchInsert is how the writer stores events on PostgreSQL: a
// transaction's events are gathered column by column and inserted by one
// statement per flush, unnesting one array per column, instead of one
// round trip per event. Empty optional fields are NULL, as on SQLite.
type batchInsert struct {
	ids, timeNS, receivedAt []int64
	text                    [25][]*string // the text columns, in eventColumns order
	hash                    [][]byte
	// The idempotency keys of the events, inserted after them.
	keySender, keyEventID []string
	keyID                 []int64
	keyHash               [][]byte
}

// batchInsertSQL inserts the arrays bound by batchInsert.flush.
var batchInsertSQL = func() string {
	casts := []string{"bigint[]"}
	for i := 1; i < len(insertColumns)-1; i++ {
		switch insertColumns[i] {
		case "time_ns", "received_at":
			casts = append(casts, "bigint[]")
		default:
			casts = append(casts, "text[]")
		}
	}
	casts = append(casts, "bytea[]")
	q := `INSERT INTO events (` + eventColumns + `) SELECT * FROM unnest(`
	for i, c := range casts {
		if i > 0 {
			q += `, `
		}
		q += `?::` + c
	}
	return q + `)`
}()

// required marks the text columns that are never NULL (time, source,
// category, type, outcome, severity, message), in add's order.
var required = [25]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 23: true}

// add gathers r, stored with hash.
func (b *batchInsert) add(r *row, hash []byte) {
	b.ids = append(b.ids, r.id)
	b.timeNS = append(b.timeNS, r.timeNS)
	b.receivedAt = append(b.receivedAt, r.receivedAt)
	b.hash = append(b.hash, hash)
	for i, s := range [...]string{r.eventID, r.time, r.source, r.category, r.typ, r.outcome, r.severity,
		r.actorType, r.actorID, r.actorDN, r.actorIP, r.entityType, r.entityID,
		r.certSerial, r.certFingerprint, r.certSubject,
		r.agentID, r.host, r.app, r.process, r.command, r.policy, r.tenant, r.message, r.details} {
		var p *string
		if s != "" || required[i] {
			p = &s
		}
		b.text[i] = append(b.text[i], p)
	}
}

// addKey gathers the key (sender, eventID) of event id, whose content
// hash is hash.
func (b *batchInsert) addKey(sender, eventID string, id int64, hash []byte) {
	b.keySender = append(b.keySender, sender)
	b.keyEventID = append(b.keyEventID, eventID)
	b.keyID = append(b.keyID, id)
	b.keyHash = append(b.keyHash, hash)
}

// flush inserts what was gathered in tx.
func (b *batchInsert) flush(tx *sql.Tx) error {
	if len(b.ids) == 0 {
		return nil
	}
	defer b.reset()
	t := &b.text
	// eventColumns order: id, event_id, time, time_ns, received_at, then
	// the text columns, then hash.
	args := []any{b.ids, t[0], t[1], b.timeNS, b.receivedAt}
	for i := 2; i < 25; i++ {
		args = append(args, t[i])
	}
	args = append(args, b.hash)
	if _, err := tx.Exec(batchInsertSQL, args...); err != nil {
		return err
	}
	if len(b.keyID) == 0 {
		return nil
	}
	_, err := tx.Exec(`INSERT INTO event_keys (sender, event_id, id, content_hash)
		SELECT * FROM unnest(?::text[], ?::text[], ?::bigint[], ?::bytea[])`, b.keySender, b.keyEventID, b.keyID, b.keyHash)
	return err
}

// reset forgets what was gathered.
func (b *batchInsert) reset() {
	b.ids, b.timeNS, b.receivedAt, b.hash = b.ids[:0], b.timeNS[:0], b.receivedAt[:0], b.hash[:0]
	b.keySender, b.keyEventID, b.keyID, b.keyHash = b.keySender[:0], b.keyEventID[:0], b.keyID[:0], b.keyHash[:0]
	for i := range b.text {
		b.text[i] = b.text[i][:0]
	}
}
