package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/transparency-dev/merkle/proof"

	"vigil/model"
)

// independentRoot computes the RFC 6962 root of the first n events by the
// textbook recursion, without the store's compact ranges or stored nodes.
func independentRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		return hasher.EmptyRoot()
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return hasher.HashChildren(independentRoot(leaves[:k]), independentRoot(leaves[k:]))
}

func allLeaves(t *testing.T, s *Store) [][]byte {
	t.Helper()
	rows, err := s.rdb.Query(`SELECT hash FROM events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var h []byte
		rows.Scan(&h)
		out = append(out, leafHash(h))
	}
	return out
}

func appendN(t testing.TB, s *Store, n, batch int) {
	t.Helper()
	for i := 0; i < n; i += batch {
		var evs []model.Event
		for j := i; j < i+batch && j < n; j++ {
			evs = append(evs, ev(t, fmt.Sprintf(`{"message":"leaf %d"}`, j)))
		}
		if _, err := s.AppendEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
}

func unhex(t *testing.T, ss ...string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestMerkleTreeAndProofs(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() *Store {
		s, err := Open(ctx, filepath.Join(dir, "vigil.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	appendN(t, s, 700, 37)
	s.Close()
	// Reopened, the writer reloads its tree from stored nodes and leaves.
	s = open()
	defer s.Close()
	appendN(t, s, 1111-700, 101)

	leaves := allLeaves(t, s)
	head, err := s.TreeHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head.Size != 1111 || hex.EncodeToString(head.Root) != hex.EncodeToString(independentRoot(leaves)) {
		t.Fatalf("tree head %d %x, want 1111 %x", head.Size, head.Root, independentRoot(leaves))
	}
	for _, size := range []uint64{1, 2, 3, 255, 256, 257, 511, 512, 1000, 1111} {
		root := independentRoot(leaves[:size])
		for _, id := range []int64{1, 2, int64(size / 2), int64(size)} {
			if id < 1 || uint64(id) > size {
				continue
			}
			t.Run(fmt.Sprintf("Inclusion%dOf%d", id, size), func(t *testing.T) {
				p, err := s.InclusionProof(ctx, id, size)
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyInclusion(hasher, uint64(id-1), size, leaves[id-1], unhex(t, p.Hashes...), root); err != nil {
					t.Fatal(err)
				}
				if p.RootHash != hex.EncodeToString(root) {
					t.Fatalf("proof root %s", p.RootHash)
				}
			})
		}
		for _, from := range []uint64{1, size / 3, size - 1} {
			if from < 1 {
				continue
			}
			t.Run(fmt.Sprintf("Consistency%dTo%d", from, size), func(t *testing.T) {
				p, err := s.ConsistencyProof(ctx, from, size)
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyConsistency(hasher, from, size, unhex(t, p.Hashes...), independentRoot(leaves[:from]), root); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	if _, err := s.InclusionProof(ctx, 5000, 0); model.ErrorCode(err) != model.EINVALID {
		t.Errorf("proof beyond the tree: %v", err)
	}
	if _, err := s.ConsistencyProof(ctx, 10, 5); model.ErrorCode(err) != model.EINVALID {
		t.Errorf("backwards consistency: %v", err)
	}
}

// TestRFC6962Hashes keeps the writer's hash functions equal to the RFC 6962
// ones that proofs are checked with, for hashes and for other lengths.
func TestRFC6962Hashes(t *testing.T) {
	for _, n := range []int{0, 1, 31, HashSize, 33, 64} {
		a, b := bytes.Repeat([]byte{0xa5}, n), bytes.Repeat([]byte{0x3c}, n)
		if got, want := leafHash(a), hasher.HashLeaf(a); !bytes.Equal(got, want) {
			t.Errorf("leafHash(%d bytes) = %x, want %x", n, got, want)
		}
		if got, want := nodeHashOf(a, b), hasher.HashChildren(a, b); !bytes.Equal(got, want) {
			t.Errorf("nodeHashOf(%d bytes) = %x, want %x", n, got, want)
		}
	}
}
