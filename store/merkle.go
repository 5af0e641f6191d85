package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"vigil/model"
)

// storedLevel is the lowest level of Merkle nodes kept in merkle_nodes;
// nodes below it span fewer than 2^storedLevel leaves and are recomputed.
const storedLevel = 8

var (
	// hasher computes proofs; the writer's hot path uses leafHash and
	// nodeHashOf, the same RFC 6962 functions without a digest allocated
	// per call (TestRFC6962Hashes keeps them equal).
	hasher       = rfc6962.DefaultHasher
	rangeFactory = &compact.RangeFactory{Hash: nodeHashOf}
)

// leafHash is the RFC 6962 leaf hash of an event hash:
// SHA-256(0x00 || eventHash).
func leafHash(eventHash []byte) []byte {
	var buf [1 + HashSize]byte
	buf[0] = rfc6962.RFC6962LeafHashPrefix
	if len(eventHash) != HashSize {
		return hasher.HashLeaf(eventHash)
	}
	copy(buf[1:], eventHash)
	sum := sha256.Sum256(buf[:])
	return sum[:]
}

// nodeHashOf is the RFC 6962 hash of an interior node:
// SHA-256(0x01 || left || right).
func nodeHashOf(left, right []byte) []byte {
	if len(left) != HashSize || len(right) != HashSize {
		return hasher.HashChildren(left, right)
	}
	var buf [1 + 2*HashSize]byte
	buf[0] = rfc6962.RFC6962NodeHashPrefix
	copy(buf[1:], left)
	copy(buf[1+HashSize:], right)
	sum := sha256.Sum256(buf[:])
	return sum[:]
}

// querier is a *sql.DB, *sql.Tx or *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// nodeHash returns the hash of the perfect subtree node (level, index),
// reading it from merkle_nodes or recomputing it from its leaves.
func nodeHash(ctx context.Context, q querier, id compact.NodeID) ([]byte, error) {
	if id.Level >= storedLevel {
		var h []byte
		err := q.QueryRowContext(ctx, `SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?`, id.Level, id.Index).Scan(&h)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("merkle node %d/%d is missing", id.Level, id.Index)
		}
		return h, err
	}
	begin, end := id.Coverage()
	leaves, err := leafHashes(ctx, q, begin, end)
	if err != nil {
		return nil, err
	}
	r := rangeFactory.NewEmptyRange(begin)
	for _, l := range leaves {
		if err := r.Append(l, nil); err != nil {
			return nil, err
		}
	}
	// The leaves of a perfect subtree fold into a single hash: its root.
	if h := r.Hashes(); len(h) == 1 {
		return h[0], nil
	}
	return nil, fmt.Errorf("merkle node %d/%d is not a perfect subtree", id.Level, id.Index)
}

// leafHashes returns the leaf hashes of leaves [begin, end), from the
// events or, for events removed by retention, the hashes they left behind.
func leafHashes(ctx context.Context, q querier, begin, end uint64) ([][]byte, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, hash FROM events WHERE id > ? AND id <= ?
		UNION ALL SELECT id, hash FROM pruned_events WHERE id > ? AND id <= ? ORDER BY id`, begin, end, begin, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([][]byte, 0, end-begin)
	next := begin + 1
	for rows.Next() {
		var id uint64
		var h []byte
		if err := rows.Scan(&id, &h); err != nil {
			return nil, err
		}
		if id != next {
			return nil, fmt.Errorf("event %d is missing", next)
		}
		out = append(out, leafHash(h))
		next++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if next != end+1 {
		return nil, fmt.Errorf("event %d is missing", next)
	}
	return out, nil
}

// loadRange returns the compact range [0, size) of the tree.
func loadRange(ctx context.Context, q querier, size uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := nodeHash(ctx, q, id)
		if err != nil {
			return nil, fmt.Errorf("load tree of size %d: %w", size, err)
		}
		hashes[i] = h
	}
	return rangeFactory.NewRange(0, size, hashes)
}

// rootOf returns the root hash of a compact range starting at 0.
func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

// TreeHead is the size and root hash of the events' Merkle tree.
type TreeHead struct {
	Size uint64
	Root []byte
}

// TreeHead returns the current tree head, read in one snapshot.
func (s *Store) TreeHead(ctx context.Context) (TreeHead, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return TreeHead{}, fmt.Errorf("store: tree head: %w", err)
	}
	defer tx.Rollback()
	var size uint64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&size); err != nil {
		return TreeHead{}, fmt.Errorf("store: tree head: %w", err)
	}
	r, err := loadRange(ctx, tx, size)
	if err != nil {
		return TreeHead{}, fmt.Errorf("store: %w", err)
	}
	root, err := rootOf(r)
	if err != nil {
		return TreeHead{}, fmt.Errorf("store: tree head: %w", err)
	}
	return TreeHead{Size: size, Root: root}, nil
}

// proofHashes fetches the node hashes a proof needs with node (nodeHash
// or a cache of it) and combines them.
func proofHashes(nodes proof.Nodes, node func(compact.NodeID) ([]byte, error)) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h, err := node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// InclusionProof is an RFC 6962 inclusion proof of one event.
type InclusionProof struct {
	EventID  int64    `json:"id"`
	Index    uint64   `json:"leaf_index"`
	TreeSize uint64   `json:"tree_size"`
	LeafHash string   `json:"leaf_hash"`
	RootHash string   `json:"root_hash"`
	Hashes   []string `json:"hashes"`
}

// InclusionProof proves that event id is leaf id-1 of the tree of size
// (0 means the current size).
func (s *Store) InclusionProof(ctx context.Context, id int64, size uint64) (InclusionProof, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return InclusionProof{}, fmt.Errorf("store: inclusion proof: %w", err)
	}
	defer tx.Rollback()
	var current uint64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&current); err != nil {
		return InclusionProof{}, fmt.Errorf("store: inclusion proof: %w", err)
	}
	if size == 0 {
		size = current
	}
	switch {
	case size > current:
		return InclusionProof{}, model.Errorf(model.EINVALID, "size %d is beyond the tree size %d", size, current)
	case id < 1 || uint64(id) > size:
		return InclusionProof{}, model.Errorf(model.EINVALID, "event %d is not in a tree of size %d", id, size)
	}
	var eh []byte
	if err := tx.QueryRowContext(ctx, `SELECT hash FROM events WHERE id = ?`, id).Scan(&eh); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return InclusionProof{}, missingEvent(ctx, s.d, tx, id)
		}
		return InclusionProof{}, fmt.Errorf("store: inclusion proof: %w", err)
	}
	nodes, err := proof.Inclusion(uint64(id-1), size)
	if err != nil {
		return InclusionProof{}, model.Errorf(model.EINVALID, "%v", err)
	}
	hashes, err := proofHashes(nodes, func(id compact.NodeID) ([]byte, error) { return nodeHash(ctx, tx, id) })
	if err != nil {
		return InclusionProof{}, fmt.Errorf("store: inclusion proof: %w", err)
	}
	r, err := loadRange(ctx, tx, size)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("store: %w", err)
	}
	root, err := rootOf(r)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("store: inclusion proof: %w", err)
	}
	return InclusionProof{EventID: id, Index: uint64(id - 1), TreeSize: size,
		LeafHash: fmt.Sprintf("%x", leafHash(eh)), RootHash: fmt.Sprintf("%x", root), Hashes: hexAll(hashes)}, nil
}

// ConsistencyProof is an RFC 6962 proof that the tree of size To extends
// the tree of size From.
type ConsistencyProof struct {
	From     uint64   `json:"from"`
	To       uint64   `json:"to"`
	FromRoot string   `json:"from_root"`
	ToRoot   string   `json:"to_root"`
	Hashes   []string `json:"hashes"`
}

// ConsistencyProof proves that the tree of size to extends that of size
// from (to 0 means the current size).
func (s *Store) ConsistencyProof(ctx context.Context, from, to uint64) (ConsistencyProof, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("store: consistency proof: %w", err)
	}
	defer tx.Rollback()
	var current uint64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&current); err != nil {
		return ConsistencyProof{}, fmt.Errorf("store: consistency proof: %w", err)
	}
	if to == 0 {
		to = current
	}
	if from < 1 || from > to || to > current {
		return ConsistencyProof{}, model.Errorf(model.EINVALID, "need 1 <= from <= to <= %d (tree size)", current)
	}
	nodes, err := proof.Consistency(from, to)
	if err != nil {
		return ConsistencyProof{}, model.Errorf(model.EINVALID, "%v", err)
	}
	hashes, err := proofHashes(nodes, func(id compact.NodeID) ([]byte, error) { return nodeHash(ctx, tx, id) })
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("store: consistency proof: %w", err)
	}
	roots := make([]string, 2)
	for i, size := range []uint64{from, to} {
		r, err := loadRange(ctx, tx, size)
		if err != nil {
			return ConsistencyProof{}, fmt.Errorf("store: %w", err)
		}
		root, err := rootOf(r)
		if err != nil {
			return ConsistencyProof{}, fmt.Errorf("store: consistency proof: %w", err)
		}
		roots[i] = fmt.Sprintf("%x", root)
	}
	return ConsistencyProof{From: from, To: to, FromRoot: roots[0], ToRoot: roots[1], Hashes: hexAll(hashes)}, nil
}

func hexAll(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = fmt.Sprintf("%x", h)
	}
	return out
}
