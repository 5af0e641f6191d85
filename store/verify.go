package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"sort"

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
	rows, err := tx.QueryContext(ctx, `SELECT `+eventColumns+` FROM events ORDER BY id`)
	if err != nil {
		return rep, fmt.Errorf("store: verify: %w", err)
	}
	defer rows.Close()
	prev := make([]byte, HashSize)
	var prevID int64
	var buf []byte
	tree := rangeFactory.NewEmptyRange(0)
	var badNode *compact.NodeID
	visit := func(id compact.NodeID, h []byte) {
		if id.Level < storedLevel || badNode != nil {
			return
		}
		if stored, ok := nodes[id]; !ok || !bytes.Equal(stored, h) {
			badNode = &id
		}
	}
	for rows.Next() {
		r, stored, err := scanRow(rows)
		if err != nil {
			return rep, fmt.Errorf("store: verify: %w", err)
		}
		switch {
		case r.id <= prevID:
			return fail(prevID+1, "event %d is out of order", r.id)
		case r.id != prevID+1:
			return fail(prevID+1, "event %d is missing", prevID+1)
		}
		var sum [HashSize]byte
		sum, buf = chainHash(prev, &r, buf)
		if !bytes.Equal(sum[:], stored) {
			return fail(r.id, "event %d does not match its hash: it was changed, inserted or moved", r.id)
		}
		if err := tree.Append(leafHash(stored), visit); err != nil {
			return rep, fmt.Errorf("store: verify: %w", err)
		}
		if badNode != nil {
			_, end := badNode.Coverage()
			return fail(int64(end), "stored Merkle node %d/%d does not match the events it covers", badNode.Level, badNode.Index)
		}
		prev, prevID = stored, r.id
		rep.Checked++
		for len(checks) > 0 && checks[0].size == tree.End() {
			if err := checkRoot(tree, checks[0]); err != nil {
				return fail(0, "%v", err)
			}
			rep.CheckpointsChecked++
			checks = checks[1:]
		}
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("store: verify: %w", err)
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
