package store

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"vigil/model"
)

// VerifyOptions adds checks to VerifyChain.
type VerifyOptions struct {
	// PublicKey, if set, is the verifier key every stored checkpoint's
	// signature must match.
	PublicKey string
	// External are checkpoints kept off the box: the database must still
	// hold each one's tree, with the same root.
	External []model.Checkpoint
	// Chunk, if positive, has the walk read this many ids per read
	// transaction and rest between them (a verify in the background that
	// must not starve intake); retention waits for such a verify. 0 walks
	// everything in one snapshot.
	Chunk int
	// TimestampRoots, if set, are the roots the time-stamping authority's
	// certificate must chain to. Every stored time-stamp token is checked
	// either way: it must stamp its checkpoint's note and its signature
	// must verify with the certificate it carries.
	TimestampRoots *x509.CertPool
}

// ChainReport is the outcome of VerifyChain.
type ChainReport struct {
	OK                 bool   `json:"ok"`
	Checked            int64  `json:"checked"`
	FirstBad           *int64 `json:"first_bad"`
	Reason             string `json:"reason,omitempty"`
	LastID             int64  `json:"last_id"`
	LastHash           string `json:"last_hash,omitempty"`
	TreeSize           uint64 `json:"tree_size"`
	RootHash           string `json:"root_hash,omitempty"`
	CheckpointsChecked int    `json:"checkpoints_checked"`
	// Retention: events up to BaseID are gone; Pruned removed events above
	// it left only their hashes. CheckpointsBeforeBase could not be
	// rechecked since their events are gone.
	BaseID                int64 `json:"retention_base_id,omitempty"`
	Pruned                int64 `json:"pruned,omitempty"`
	CheckpointsBeforeBase int   `json:"checkpoints_before_base,omitempty"`
	// Redacted events kept only their commitment, under RetentionRecord,
	// the newest retention record.
	Redacted        int64 `json:"redacted,omitempty"`
	RetentionRecord int64 `json:"retention_record,omitempty"`
	// Timestamps counts the stored checkpoints' RFC 3161 tokens verified
	// (TimestampChains: up to VerifyOptions.TimestampRoots); TrustedTime
	// is the time the newest one gives, for checkpoint
	// TrustedTimeCheckpoint.
	Timestamps            int        `json:"timestamps_checked,omitempty"`
	TimestampChains       bool       `json:"timestamp_chains_checked,omitempty"`
	TrustedTime           *time.Time `json:"trusted_time,omitempty"`
	TrustedTimeCheckpoint int64      `json:"trusted_time_checkpoint,omitempty"`
}

// checkpointCheck is a tree head the walk must meet.
type checkpointCheck struct {
	size uint64
	root []byte
	what string
}

// VerifyChain walks every event in sequence order inside one read
// snapshot. It recomputes each event's hash from its row and its
// predecessor's hash, rebuilds the Merkle tree from those hashes and
// compares it with the stored tree nodes, every stored checkpoint and the
// external ones. The first edited, missing, inserted or reordered event is
// named in FirstBad; a tree that no longer matches a checkpoint (a cut tail,
// a rollback, a rewritten history) fails with a reason.
//
// The steps: start (checkpoints, the chain's base and what retention must
// account for), walk (each event or removed event in id order: chain
// link and hash, then its leaf against the stored nodes and the
// checkpoints it completes) and finish (retention coverage, the tail).
func (s *Store) VerifyChain(ctx context.Context, opts VerifyOptions) (ChainReport, error) {
	if opts.Chunk > 0 {
		// The walk spans several read transactions: retention, which
		// changes what the first one loaded, waits for it to end.
		s.retentionMu.Lock()
		defer s.retentionMu.Unlock()
	}
	v := &chainVerifier{written: s.d.storedAsWritten()}
	failure, err := v.run(ctx, s.rdb, opts)
	if failure != nil {
		v.rep.OK, v.rep.Reason = false, failure.reason
		if failure.id > 0 {
			v.rep.FirstBad = &failure.id
		}
	}
	return v.rep, err
}

// run starts, walks and finishes, in one read transaction or, with
// opts.Chunk, in one per chunk of ids, up to the last id of the first.
// Between chunks it rests as long as the chunk took, so that a verify in
// the background uses at most about half a core and holds no snapshot
// for long.
func (v *chainVerifier) run(ctx context.Context, db *sql.DB, opts VerifyOptions) (*verifyFailure, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	defer func() { tx.Rollback() }()
	if failure, err := v.start(ctx, tx, opts); failure != nil || err != nil {
		return failure, err
	}
	var end, endPruned int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT max(id) FROM events), 0), coalesce((SELECT max(id) FROM pruned_events), 0)`).Scan(&end, &endPruned); err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	end = max(end, endPruned)
	for {
		upTo := end
		if opts.Chunk > 0 {
			upTo = min(end, v.prevID+int64(opts.Chunk))
		}
		began := time.Now()
		if failure, err := v.walk(ctx, tx, upTo); failure != nil || err != nil {
			return failure, err
		}
		if v.prevID < upTo {
			return failAt(v.prevID+1, "event %d is missing", v.prevID+1), nil
		}
		if v.prevID >= end {
			break
		}
		tx.Rollback()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(max(time.Since(began), time.Millisecond)):
		}
		if tx, err = db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}); err != nil {
			return nil, fmt.Errorf("store: verify: %w", err)
		}
	}
	return v.finish()
}

// chainVerifier is one VerifyChain run: what the walk must meet and how
// far it has come. A check that fails ends the run with a verifyFailure;
// the report keeps the counts up to it.
type chainVerifier struct {
	written string // dialect.storedAsWritten
	rep     ChainReport
	nodes   map[compact.NodeID][]byte // the stored Merkle nodes
	checks  []checkpointCheck         // tree heads still to meet, in size order
	ret     *retentionCheck
	tree    *compact.Range
	prev    []byte // the hash of the last event walked
	prevID  int64
	kept    bool   // an event is stored below the current id
	buf     []byte // chainHash's scratch
}

// failAt is a failed check naming event id (0: none).
func failAt(id int64, format string, args ...any) *verifyFailure {
	return &verifyFailure{id, fmt.Sprintf(format, args...)}
}

// start loads what the walk must meet: the stored nodes, the checkpoints
// (their signatures checked against opts.PublicKey), the chain's base
// after retention and the records that account for what is gone.
func (v *chainVerifier) start(ctx context.Context, tx *sql.Tx, opts VerifyOptions) (*verifyFailure, error) {
	var err error
	if v.nodes, err = storedNodes(ctx, tx); err != nil {
		return nil, err
	}
	checks, bad, err := checkpointChecks(ctx, tx, opts, &v.rep)
	if err != nil {
		return nil, err
	}
	if bad != "" {
		return failAt(0, "%s", bad), nil
	}
	// Retention may have removed a prefix: the walk starts at the chain's
	// base, whose tree is made of stored nodes only.
	base, baseHash, err := chainBase(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	v.rep.BaseID = base
	ret, failure, err := loadRetention(ctx, tx, base, baseHash)
	if err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	if failure != nil {
		return failure, nil
	}
	v.ret, v.rep.RetentionRecord = ret, ret.newestID
	if v.tree, err = loadRange(ctx, tx, uint64(base)); err != nil {
		return failAt(base, "the tree of the %d events removed by retention cannot be loaded: %v", base, err), nil
	}
	for len(checks) > 0 && checks[0].size <= uint64(base) {
		v.rep.CheckpointsBeforeBase++
		checks = checks[1:]
	}
	v.checks, v.prev, v.prevID = checks, baseHash, base
	return nil, nil
}

// walkWindow is how many ids walk reads at a time: the removed events'
// hashes of a window are read first, then its events are streamed, so
// that one connection runs one query at a time (as PostgreSQL's must).
const walkWindow = 1 << 16

// walk checks the events after the last one walked up to id upTo in id
// order, merging the stored events with the hashes retention left of
// removed ones.
func (v *chainVerifier) walk(ctx context.Context, tx *sql.Tx, upTo int64) (*verifyFailure, error) {
	for lo := v.prevID; lo < upTo; lo += walkWindow {
		if f, err := v.walkWindow(ctx, tx, lo, min(upTo, lo+walkWindow)); f != nil || err != nil {
			return f, err
		}
	}
	return nil, nil
}

// walkWindow walks the ids after lo up to hi.
func (v *chainVerifier) walkWindow(ctx context.Context, tx *sql.Tx, lo, hi int64) (*verifyFailure, error) {
	c := &walkCursor{}
	pruned, err := tx.QueryContext(ctx, `SELECT id, hash, legacy FROM pruned_events WHERE id > ? AND id <= ? ORDER BY id`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	for pruned.Next() {
		var p prunedEvent
		if err := pruned.Scan(&p.id, &p.hash, &p.legacy); err != nil {
			pruned.Close()
			return nil, fmt.Errorf("store: verify: %w", err)
		}
		c.pruned = append(c.pruned, p)
	}
	pruned.Close()
	if err := pruned.Err(); err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+eventColumns+`, `+v.written+` FROM events WHERE id > ? AND id <= ? ORDER BY id`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	defer rows.Close()
	c.rows = rows
	if f := c.nextEvent(v.prevID + 1); f != nil {
		return f, nil
	}
	c.nextPruned()
	for c.haveEvent || c.havePruned {
		var id int64
		var h []byte
		if c.havePruned && (!c.haveEvent || c.prunedID < c.r.id) {
			id, h = c.prunedID, c.prunedHash
			if f := v.removed(id, c.prunedLegacy); f != nil {
				return f, nil
			}
			c.nextPruned()
		} else {
			id, h = c.r.id, c.stored
			if f := v.event(&c.r, c.stored, c.asWritten); f != nil {
				return f, nil
			}
			if f := c.nextEvent(id + 1); f != nil {
				return f, nil
			}
		}
		if f, err := v.appendLeaf(id, h); f != nil || err != nil {
			return f, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	return nil, nil
}

// walkCursor steps through one window's stored events (streamed) and
// removed events' hashes (read first).
type walkCursor struct {
	rows   *sql.Rows
	pruned []prunedEvent

	haveEvent bool
	r         row
	stored    []byte // the event's stored hash
	asWritten bool   // its values have the types and forms Vigil writes

	havePruned   bool
	prunedID     int64
	prunedHash   []byte
	prunedLegacy bool
}

// prunedEvent is a row of pruned_events: what retention kept of a
// removed event.
type prunedEvent struct {
	id     int64
	hash   []byte
	legacy bool
}

// nextEvent moves to the next stored event; want is the id expected
// there, named when the row cannot be read.
func (c *walkCursor) nextEvent(want int64) *verifyFailure {
	if c.haveEvent = c.rows.Next(); !c.haveEvent {
		return nil
	}
	scanAll := func(dest ...any) error { return c.rows.Scan(append(dest, &c.asWritten)...) }
	var err error
	if c.r, c.stored, err = scanRow(scanFunc(scanAll)); err != nil {
		return failAt(want, "event %d cannot be read: %v", want, err)
	}
	return nil
}

// nextPruned moves to the next removed event's hash.
func (c *walkCursor) nextPruned() {
	if c.havePruned = len(c.pruned) > 0; c.havePruned {
		p := c.pruned[0]
		c.pruned = c.pruned[1:]
		c.prunedID, c.prunedHash, c.prunedLegacy = p.id, p.hash, p.legacy
	}
}

// removed checks event id, which retention removed: its content is gone;
// its hash still links its neighbours and is its leaf in the tree.
func (v *chainVerifier) removed(id int64, legacy bool) *verifyFailure {
	if id != v.prevID+1 {
		return failAt(v.prevID+1, "event %d is missing", v.prevID+1)
	}
	if why := v.ret.removable(id, legacy, v.kept); why != "" {
		return failAt(id, "event %d was removed %s", id, why)
	}
	v.rep.Pruned++
	return nil
}

// event checks a stored event: it follows the last one, and its hash
// chains from it (or, redacted, a retention record commits to it).
func (v *chainVerifier) event(r *row, stored []byte, asWritten bool) *verifyFailure {
	id := r.id
	if !asWritten && id == v.prevID+1 {
		return failAt(id, "event %d holds a value of a type or form Vigil never writes", id)
	}
	switch {
	case id <= v.prevID:
		return failAt(v.prevID+1, "event %d is out of order", id)
	case id != v.prevID+1:
		return failAt(v.prevID+1, "event %d is missing", v.prevID+1)
	}
	v.kept = true
	if r.outcome == model.OutcomeRedacted {
		// Its content is gone: its hash is linked by the next event's and
		// the tree, its commitment by a record.
		if why := v.ret.redacted(r, stored); why != "" {
			return failAt(id, "event %d is redacted %s", id, why)
		}
		v.rep.Redacted++
		return nil
	}
	var sum [HashSize]byte
	sum, v.buf = chainHash(v.prev, r, v.buf)
	if !bytes.Equal(sum[:], stored) {
		return failAt(id, "event %d does not match its hash: it was changed, inserted or moved", id)
	}
	if why := v.ret.intact(r, stored); why != "" {
		return failAt(id, "event %d %s", id, why)
	}
	v.rep.Checked++
	return nil
}

// appendLeaf adds event id's hash h to the tree, checks the stored nodes
// it completes and the checkpoints whose size it reaches.
func (v *chainVerifier) appendLeaf(id int64, h []byte) (*verifyFailure, error) {
	if id == v.ret.lastRemovedID {
		v.ret.lastRemovedHash = h
	}
	var badNode *compact.NodeID
	visit := func(id compact.NodeID, h []byte) {
		if id.Level < storedLevel || badNode != nil {
			return
		}
		if stored, ok := v.nodes[id]; !ok || !bytes.Equal(stored, h) {
			badNode = &id
		}
	}
	if err := v.tree.Append(leafHash(h), visit); err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	if badNode != nil {
		begin, end := badNode.Coverage()
		return failAt(int64(begin+1), "stored Merkle node %d/%d does not match events %d-%d, which it covers", badNode.Level, badNode.Index, begin+1, end), nil
	}
	v.prev, v.prevID = h, id
	for len(v.checks) > 0 && v.checks[0].size == v.tree.End() {
		if err := checkRoot(v.tree, v.checks[0]); err != nil {
			return failAt(0, "%v", err), nil
		}
		v.rep.CheckpointsChecked++
		v.checks = v.checks[1:]
	}
	return nil, nil
}

// finish checks what the walk left: that retention records cover every
// removed and redacted event, that no checkpoint or stored node reaches
// past the last event, and fills in the report of a chain that verifies.
func (v *chainVerifier) finish() (*verifyFailure, error) {
	if f := v.ret.finish(); f != nil {
		return f, nil
	}
	end := v.tree.End()
	if len(v.checks) > 0 {
		c := v.checks[0]
		return failAt(0, "%s covers %d events but the database holds %d: events were cut from the end or an older copy was restored", c.what, c.size, end), nil
	}
	// Nodes beyond the tree mean events were cut after they were stored.
	for id := range v.nodes {
		if _, last := id.Coverage(); last > end {
			return failAt(0, "stored Merkle node %d/%d covers events up to %d but the database holds %d: events were cut from the end", id.Level, id.Index, last, end), nil
		}
	}
	root, err := rootOf(v.tree)
	if err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	v.rep.OK = true
	v.rep.LastID = v.prevID
	v.rep.TreeSize = end
	v.rep.RootHash = fmt.Sprintf("%x", root)
	if v.prevID > 0 {
		v.rep.LastHash = fmt.Sprintf("%x", v.prev)
	}
	return nil, nil
}

// storedAsWritten is true for a row whose every value has the type and form
// the writer gives it: text or NULL (never empty text) for optional fields,
// integers for numbers, a 32-byte blob for the hash. The hash covers values,
// so this catches edits that change only a value's representation.
func (d dialect) storedAsWritten() string {
	var conds []string
	if d.postgres {
		// The columns' types hold the types; what is left is the form.
		for _, c := range optionalEventText {
			conds = append(conds, fmt.Sprintf("(%[1]s IS NULL OR %[1]s <> '')", c))
		}
		return "(" + strings.Join(append(conds, "octet_length(hash) = 32"), " AND ") + ")"
	}
	for _, c := range optionalEventText {
		conds = append(conds, fmt.Sprintf("(typeof(%[1]s) = 'null' OR (typeof(%[1]s) = 'text' AND %[1]s <> ''))", c))
	}
	for _, c := range []string{"time", "source", "category", "type", "outcome", "severity", "message"} {
		conds = append(conds, fmt.Sprintf("typeof(%s) = 'text'", c))
	}
	for _, c := range []string{"id", "time_ns", "received_at"} {
		conds = append(conds, fmt.Sprintf("typeof(%s) = 'integer'", c))
	}
	conds = append(conds, "(typeof(hash) = 'blob' AND length(hash) = 32)")
	return "(" + strings.Join(conds, " AND ") + ")"
}

// optionalEventText are the events' optional text columns: NULL when
// empty, never ”.
var optionalEventText = []string{"event_id", "actor_type", "actor_id", "actor_dn", "actor_ip", "entity_type", "entity_id",
	"cert_serial", "cert_fingerprint", "cert_subject", "agent_id", "host", "app", "process", "command",
	"policy", "tenant", "details"}

// scanFunc adapts a Scan function to the scanner interface.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// checkTimestamp checks the time-stamp token stored with checkpoint id
// and the time stored beside it, and counts it in rep; it returns what is
// wrong, or "".
func checkTimestamp(note string, token []byte, stamped string, roots *x509.CertPool, id int64, rep *ChainReport) string {
	if token == nil {
		return "its time is stored without its token"
	}
	info, err := model.OpenTimestamp(token, model.CheckpointDigest(note), roots)
	if err != nil {
		return err.Error()
	}
	if t, err := time.Parse(time.RFC3339Nano, stamped); err != nil || !t.Equal(info.Time) {
		return fmt.Sprintf("the time stored beside it (%q) is not the token's %s", stamped, info.Time.UTC().Format(time.RFC3339Nano))
	}
	rep.Timestamps++
	rep.TimestampChains = info.ChainChecked
	t := info.Time.UTC()
	rep.TrustedTime, rep.TrustedTimeCheckpoint = &t, id
	return ""
}

func checkRoot(tree *compact.Range, c checkpointCheck) error {
	root, err := rootOf(tree)
	if err != nil {
		return err
	}
	if !bytes.Equal(root, c.root) {
		return fmt.Errorf("%s: the tree of its first %d events has root %x, the checkpoint says %x: history was rewritten", c.what, c.size, root, c.root)
	}
	return nil
}

// storedNodes reads every stored Merkle node.
func storedNodes(ctx context.Context, q querier) (map[compact.NodeID][]byte, error) {
	rows, err := q.QueryContext(ctx, `SELECT level, idx, hash FROM merkle_nodes`)
	if err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	defer rows.Close()
	nodes := map[compact.NodeID][]byte{}
	for rows.Next() {
		var level uint
		var idx uint64
		var h []byte
		if err := rows.Scan(&level, &idx, &h); err != nil {
			return nil, fmt.Errorf("store: verify: %w", err)
		}
		nodes[compact.NewNodeID(level, idx)] = h
	}
	return nodes, rows.Err()
}

// checkpointChecks lists the stored and external checkpoints of non-zero
// size in size order. When a key is given it checks the stored ones'
// signatures; it checks every time-stamp token (counted in rep); it
// describes the first bad one in bad.
func checkpointChecks(ctx context.Context, q querier, opts VerifyOptions, rep *ChainReport) (out []checkpointCheck, bad string, err error) {
	rows, err := q.QueryContext(ctx, `SELECT id, tree_size, root_hash, note, timestamp_token, timestamp_time FROM checkpoints ORDER BY id`)
	if err != nil {
		return nil, "", fmt.Errorf("store: verify: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var c checkpointCheck
		var note string
		var token []byte
		var stamped sql.NullString
		if err := rows.Scan(&id, &c.size, &c.root, &note, &token, &stamped); err != nil {
			return nil, "", fmt.Errorf("store: verify: %w", err)
		}
		c.what = fmt.Sprintf("stored checkpoint %d", id)
		if token != nil || stamped.Valid {
			if why := checkTimestamp(note, token, stamped.String, opts.TimestampRoots, id, rep); why != "" {
				return nil, fmt.Sprintf("%s: timestamp token: %s", c.what, why), nil
			}
		}
		if opts.PublicKey != "" {
			signed, err := model.OpenCheckpoint([]byte(note), opts.PublicKey)
			if err != nil {
				return nil, fmt.Sprintf("%s: %v", c.what, err), nil
			}
			if signed.Size != c.size || !bytes.Equal(signed.Root, c.root) {
				return nil, c.what + ": its columns differ from its signed note", nil
			}
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: verify: %w", err)
	}
	for i, e := range opts.External {
		out = append(out, checkpointCheck{size: e.Size, root: e.Root, what: fmt.Sprintf("checkpoint %d (external, signed %s)", i+1, e.Time.Format("2006-01-02T15:04:05Z07:00"))})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].size < out[j].size })
	for len(out) > 0 && out[0].size == 0 {
		out = out[1:]
	}
	return out, "", nil
}
