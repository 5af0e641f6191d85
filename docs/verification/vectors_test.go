// Package verification recomputes the test vectors of docs/verification.md
// from vectors.json alone, the way an auditor's own verifier would: with
// the standard library and golang.org/x/mod/sumdb/note, and no code of
// Vigil's. handlers/vectors_test.go checks that the code still makes these
// vectors, so the document and the code cannot drift apart.
package verification

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

type vectors struct {
	PublicKey   string      `json:"public_key"`
	Events      []string    `json:"events"`
	Leaves      []string    `json:"leaf_hashes"`
	Roots       []string    `json:"roots"`
	Checkpoint  string      `json:"checkpoint"`
	Inclusion   inclusion   `json:"inclusion_proof"`
	Consistency consistency `json:"consistency_proof"`
}

type inclusion struct {
	ID     int64    `json:"id"`
	Index  uint64   `json:"leaf_index"`
	Size   uint64   `json:"tree_size"`
	Leaf   string   `json:"leaf_hash"`
	Root   string   `json:"root_hash"`
	Hashes []string `json:"hashes"`
}

type consistency struct {
	From, To uint64
	FromRoot string   `json:"from_root"`
	ToRoot   string   `json:"to_root"`
	Hashes   []string `json:"hashes"`
}

// event is an event as GET /api/v1/events/{id} returns it.
type event struct {
	ID         int64  `json:"id"`
	EventID    string `json:"event_id"`
	Time       string `json:"time"`
	ReceivedAt string `json:"received_at"`
	Source     string `json:"source"`
	Category   string `json:"category"`
	Type       string `json:"type"`
	Outcome    string `json:"outcome"`
	Severity   string `json:"severity"`
	Actor      struct{ Type, ID, DN, IP string }
	Entity     struct{ Type, ID string }
	Cert       struct{ Serial, Fingerprint, Subject string } `json:"certificate"`
	AgentID    string                                        `json:"agent_id"`
	Host       string                                        `json:"host"`
	App        string                                        `json:"app"`
	Process    string                                        `json:"process"`
	Command    string                                        `json:"command"`
	Policy     string                                        `json:"policy"`
	Tenant     string                                        `json:"tenant"`
	Message    string                                        `json:"message"`
	Details    json.RawMessage                               `json:"details"` // the bytes as sent, which are the bytes stored
	Hash       string                                        `json:"hash"`
}

// canonical is the encoding the chain hash covers (docs/verification.md).
func canonical(t *testing.T, e event) []byte {
	buf := []byte("vigil-event-v1\x00")
	field := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	ns := func(s string) string {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("event %d: time %q: %v", e.ID, s, err)
		}
		return strconv.FormatInt(tm.UnixNano(), 10)
	}
	field(strconv.FormatInt(e.ID, 10))
	field(e.EventID)
	field(e.Time)
	field(ns(e.Time))
	field(ns(e.ReceivedAt))
	for _, s := range []string{e.Source, e.Category, e.Type, e.Outcome, e.Severity,
		e.Actor.Type, e.Actor.ID, e.Actor.DN, e.Actor.IP, e.Entity.Type, e.Entity.ID,
		e.Cert.Serial, e.Cert.Fingerprint, e.Cert.Subject,
		e.AgentID, e.Host, e.App, e.Process, e.Command, e.Policy, e.Tenant, e.Message, string(e.Details)} {
		field(s)
	}
	return buf
}

func sum(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// root is the RFC 6962 Merkle tree hash of leaves (leaf hashes).
func root(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		return sum()
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return sum([]byte{1}, root(leaves[:k]), root(leaves[k:]))
}

func unhex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		t.Fatalf("bad hash %q", s)
	}
	return b
}

// verifyInclusion is RFC 9162 §2.1.3.2.
func verifyInclusion(index, size uint64, leaf []byte, path [][]byte, want []byte) bool {
	if index >= size {
		return false
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range path {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			r = sum([]byte{1}, p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = sum([]byte{1}, r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && bytes.Equal(r, want)
}

// verifyConsistency is RFC 9162 §2.1.4.2.
func verifyConsistency(first, second uint64, firstRoot, secondRoot []byte, path [][]byte) bool {
	if first == second {
		return len(path) == 0 && bytes.Equal(firstRoot, secondRoot)
	}
	if first == 0 || first > second || len(path) == 0 {
		return false
	}
	if first&(first-1) == 0 { // a power of two
		path = append([][]byte{firstRoot}, path...)
	}
	fn, sn := first-1, second-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := path[0], path[0]
	for _, c := range path[1:] {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			fr, sr = sum([]byte{1}, c, fr), sum([]byte{1}, c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = sum([]byte{1}, sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && bytes.Equal(fr, firstRoot) && bytes.Equal(sr, secondRoot)
}

func TestVectors(t *testing.T) {
	raw, err := os.ReadFile("vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Events) == 0 || len(v.Leaves) != len(v.Events) || len(v.Roots) != len(v.Events) {
		t.Fatalf("vectors: %d events, %d leaves, %d roots", len(v.Events), len(v.Leaves), len(v.Roots))
	}

	// The chain: each hash covers the one before and the event's encoding.
	prev := make([]byte, sha256.Size)
	var leaves [][]byte
	for i, body := range v.Events {
		var e event
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatal(err)
		}
		if e.ID != int64(i+1) {
			t.Fatalf("event %d has id %d", i+1, e.ID)
		}
		h := sum(prev, canonical(t, e))
		if hex.EncodeToString(h) != e.Hash {
			t.Errorf("event %d: chain hash %x, the API says %s", e.ID, h, e.Hash)
		}
		leaf := sum([]byte{0}, h)
		if hex.EncodeToString(leaf) != v.Leaves[i] {
			t.Errorf("event %d: leaf hash %x, want %s", e.ID, leaf, v.Leaves[i])
		}
		leaves = append(leaves, leaf)
		prev = h
	}
	for k := 1; k <= len(leaves); k++ {
		if r := hex.EncodeToString(root(leaves[:k])); r != v.Roots[k-1] {
			t.Errorf("root of size %d: %s, want %s", k, r, v.Roots[k-1])
		}
	}

	// The checkpoint: a signed note of the whole tree.
	verifier, err := note.NewVerifier(v.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open([]byte(v.Checkpoint), note.VerifierList(verifier))
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	wantRoot := base64.StdEncoding.EncodeToString(root(leaves))
	if len(lines) != 5 || lines[0] != verifier.Name() || lines[1] != strconv.Itoa(len(leaves)) || lines[2] != wantRoot ||
		!strings.HasPrefix(lines[3], "time ") || lines[4] != "" {
		t.Errorf("checkpoint text %q, want origin %s, size %d, root %s, a time line", n.Text, verifier.Name(), len(leaves), wantRoot)
	}
	if _, err := time.Parse(time.RFC3339, strings.TrimPrefix(lines[3], "time ")); err != nil {
		t.Errorf("checkpoint time: %v", err)
	}

	// The proofs, against the roots recomputed above.
	ip := v.Inclusion
	var path [][]byte
	for _, h := range ip.Hashes {
		path = append(path, unhex(t, h))
	}
	if ip.Index != uint64(ip.ID-1) || ip.Size != uint64(len(leaves)) || ip.Leaf != v.Leaves[ip.ID-1] || ip.Root != v.Roots[ip.Size-1] ||
		!verifyInclusion(ip.Index, ip.Size, leaves[ip.Index], path, root(leaves[:ip.Size])) {
		t.Errorf("inclusion proof does not verify: %+v", ip)
	}
	cp := v.Consistency
	path = nil
	for _, h := range cp.Hashes {
		path = append(path, unhex(t, h))
	}
	if cp.FromRoot != v.Roots[cp.From-1] || cp.ToRoot != v.Roots[cp.To-1] ||
		!verifyConsistency(cp.From, cp.To, root(leaves[:cp.From]), root(leaves[:cp.To]), path) {
		t.Errorf("consistency proof does not verify: %+v", cp)
	}
}
