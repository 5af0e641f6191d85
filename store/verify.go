package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

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
func (s *Store) VerifyChain(ctx context.Context, opts VerifyOptions) (ChainReport, error) {
	var rep ChainReport
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return rep, fmt.Errorf("store: verify: %w", err)
	}
	defer tx.Rollback()

	nodes, err := storedNodes(ctx, tx)
	if err != nil {
		return rep, err
	}
	checks, bad, err := checkpointChecks(ctx, tx, opts)
	if err != nil {
		return rep, err
	}
	fail := func(id int64, format string, args ...any) (ChainReport, error) {
		rep.OK = false
		if id > 0 {
			rep.FirstBad = &id
		}
		rep.Reason = fmt.Sprintf(format, args...)
		return rep, nil
	}

	if bad != "" {
		return fail(0, "%s", bad)
	}
	// Retention may have removed a prefix: the walk starts at the chain's
	// base, whose tree is made of stored nodes only.
	base, baseHash, err := chainBase(ctx, tx)
	if err != nil {
		return rep, fmt.Errorf("store: verify: %w", err)
	}
	rep.BaseID = base
	ret, failure, err := loadRetention(ctx, tx, base, baseHash)
	if err != nil {
		return rep, fmt.Errorf("store: verify: %w", err)
	}
	if failure != nil {
		return fail(failure.id, "%s", failure.reason)
	}
	rep.RetentionRecord = ret.newestID
	tree, err := loadRange(ctx, tx, uint64(base))
	if err != nil {
		return fail(base, "the tree of the %d events removed by retention cannot be loaded: %v", base, err)
	}
	for len(checks) > 0 && checks[0].size <= uint64(base) {
		rep.CheckpointsBeforeBase++
		checks = checks[1:]
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+eventColumns+`, `+storedAsWritten+` FROM events WHERE id > ? ORDER BY id`, base)
	if err != nil {
		return rep, fmt.Errorf("store: verify: %w", err)
	}
	defer rows.Close()
	pruned, err := tx.QueryContext(ctx, `SELECT id, hash, legacy FROM pruned_events WHERE id > ? ORDER BY id`, base)
	if err != nil {
		return rep, fmt.Errorf("store: verify: %w", err)
	}
	defer pruned.Close()
	var asWritten bool
	scanAll := func(dest ...any) error { return rows.Scan(append(dest, &asWritten)...) }
	prev, prevID := baseHash, base
	var buf []byte
	var badNode *compact.NodeID
	visit := func(id compact.NodeID, h []byte) {
		if id.Level < storedLevel || badNode != nil {
			return
		}
		if stored, ok := nodes[id]; !ok || !bytes.Equal(stored, h) {
			badNode = &id
		}
	}
	// The walk merges the events with the hashes retention left behind.
	var (
		r            row
		stored       []byte
		haveEvent    = rows.Next()
		prunedID     int64
		prunedHash   []byte
		prunedLegacy bool
		havePruned   = pruned.Next()
		kept         bool // an event is stored below the current id
	)
	if haveEvent {
		if r, stored, err = scanRow(scanFunc(scanAll)); err != nil {
			return fail(prevID+1, "event %d cannot be read: %v", prevID+1, err)
		}
	}
	if havePruned {
		if err := pruned.Scan(&prunedID, &prunedHash, &prunedLegacy); err != nil {
			return rep, fmt.Errorf("store: verify: %w", err)
		}
	}
	for haveEvent || havePruned {
		var id int64
		var h []byte
		if havePruned && (!haveEvent || prunedID < r.id) {
			// A removed event: its content is gone; its hash still links
			// its neighbours and is its leaf in the tree.
			id, h = prunedID, prunedHash
			if id != prevID+1 {
				return fail(prevID+1, "event %d is missing", prevID+1)
			}
			if why := ret.removable(id, prunedLegacy, kept); why != "" {
				return fail(id, "event %d was removed %s", id, why)
			}
			rep.Pruned++
			if havePruned = pruned.Next(); havePruned {
				if err := pruned.Scan(&prunedID, &prunedHash, &prunedLegacy); err != nil {
					return rep, fmt.Errorf("store: verify: %w", err)
				}
			}
		} else {
			id, h = r.id, stored
			if !asWritten && id == prevID+1 {
				return fail(id, "event %d holds a value of a type or form Vigil never writes", id)
			}
			switch {
			case id <= prevID:
				return fail(prevID+1, "event %d is out of order", id)
			case id != prevID+1:
				return fail(prevID+1, "event %d is missing", prevID+1)
			}
			kept = true
			if r.outcome == model.OutcomeRedacted {
				// Its content is gone: its hash is linked by the next
				// event's and the tree, its commitment by a record.
				if why := ret.redacted(&r, stored); why != "" {
					return fail(id, "event %d is redacted %s", id, why)
				}
				rep.Redacted++
			} else {
				var sum [HashSize]byte
				sum, buf = chainHash(prev, &r, buf)
				if !bytes.Equal(sum[:], stored) {
					return fail(id, "event %d does not match its hash: it was changed, inserted or moved", id)
				}
				if why := ret.intact(&r, stored); why != "" {
					return fail(id, "event %d %s", id, why)
				}
				rep.Checked++
			}
			if haveEvent = rows.Next(); haveEvent {
				if r, stored, err = scanRow(scanFunc(scanAll)); err != nil {
					return fail(id+1, "event %d cannot be read: %v", id+1, err)
				}
			}
		}
		if id == ret.lastRemovedID {
			ret.lastRemovedHash = h
		}
		if err := tree.Append(leafHash(h), visit); err != nil {
			return rep, fmt.Errorf("store: verify: %w", err)
		}
		if badNode != nil {
			begin, end := badNode.Coverage()
			return fail(int64(begin+1), "stored Merkle node %d/%d does not match events %d-%d, which it covers", badNode.Level, badNode.Index, begin+1, end)
		}
		prev, prevID = h, id
		for len(checks) > 0 && checks[0].size == tree.End() {
			if err := checkRoot(tree, checks[0]); err != nil {
				return fail(0, "%v", err)
			}
			rep.CheckpointsChecked++
			checks = checks[1:]
		}
	}
	if err := errors.Join(rows.Err(), pruned.Err()); err != nil {
		return rep, fmt.Errorf("store: verify: %w", err)
	}
	if f := ret.finish(); f != nil {
		return fail(f.id, "%s", f.reason)
	}
	for _, c := range checks {
		return fail(0, "%s covers %d events but the database holds %d: events were cut from the end or an older copy was restored", c.what, c.size, tree.End())
	}
	if len(nodes) > 0 {
		// Nodes beyond the tree mean events were cut after they were stored.
		for id := range nodes {
			if _, end := id.Coverage(); end > tree.End() {
				return fail(0, "stored Merkle node %d/%d covers events up to %d but the database holds %d: events were cut from the end", id.Level, id.Index, end, tree.End())
			}
		}
	}
	root, err := rootOf(tree)
	if err != nil {
		return rep, fmt.Errorf("store: verify: %w", err)
	}
	rep.OK = true
	rep.LastID = prevID
	rep.TreeSize = tree.End()
	rep.RootHash = fmt.Sprintf("%x", root)
	if prevID > 0 {
		rep.LastHash = fmt.Sprintf("%x", prev)
	}
	return rep, nil
}

// storedAsWritten is true for a row whose every value has the type and form
// the writer gives it: text or NULL (never empty text) for optional fields,
// integers for numbers, a 32-byte blob for the hash. The hash covers values,
// so this catches edits that change only a value's representation.
var storedAsWritten = func() string {
	var conds []string
	for _, c := range []string{"event_id", "actor_type", "actor_id", "actor_dn", "actor_ip", "entity_type", "entity_id",
		"cert_serial", "cert_fingerprint", "cert_subject", "agent_id", "host", "app", "process", "command",
		"policy", "tenant", "details"} {
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
}()

// scanFunc adapts a Scan function to the scanner interface.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

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
// signatures, and describes the first bad one in bad.
func checkpointChecks(ctx context.Context, q querier, opts VerifyOptions) (out []checkpointCheck, bad string, err error) {
	rows, err := q.QueryContext(ctx, `SELECT id, tree_size, root_hash, note FROM checkpoints`)
	if err != nil {
		return nil, "", fmt.Errorf("store: verify: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var c checkpointCheck
		var note string
		if err := rows.Scan(&id, &c.size, &c.root, &note); err != nil {
			return nil, "", fmt.Errorf("store: verify: %w", err)
		}
		c.what = fmt.Sprintf("stored checkpoint %d", id)
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
