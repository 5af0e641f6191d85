package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"vigil/model"
)

// vectorsFile holds the test vectors of docs/verification.md, which
// docs/verification/vectors_test.go recomputes from the JSON alone.
var vectorsFile = filepath.Join("..", "docs", "verification", "vectors.json")

// vectorEvents are the events of the vectors, as clients post them: a bare
// one, one with every field, one whose details hold characters JSON may
// escape, and one with a time in another zone.
var vectorEvents = []string{
	`{"message":"hello"}`,
	`{"event_id":"7f1c-01","time":"2026-01-02T03:04:05.123456789Z","category":"USAGE","type":"CERT_USED","outcome":"DENIED","severity":"warn",` +
		`"actor":{"type":"USER","id":"alice","dn":"CN=Alice,O=Example","ip":"192.0.2.7"},"entity":{"type":"SERVICE","id":"payments"},` +
		`"certificate":{"serial":"3ea","fingerprint":"5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef","subject":"CN=payments.example"},"agent_id":"agent-1","host":"web-1",` +
		`"app":"nginx","process":"worker","command":"GET /pay","policy":"mtls-required","tenant":"acme","message":"denied: revoked certificate",` +
		`"details":{"reason":"revoked","attempt":3,"ok":false,"tags":["a","b"],"nested":{"x":null}}}`,
	`{"time":"2026-01-02T05:04:05+02:00","category":"AUTH","type":"LOGIN","outcome":"FAILURE","actor":{"id":"bob"},` +
		`"message":"Grüße — \"quoted\"","details":{"note":"a < b & c > d","emoji":"✓"}}`,
	`{"category":"ACCESS_CONTROL","type":"ACL_CHANGED","outcome":"SUCCESS","entity":{"type":"ROLE","id":"admin"},"message":"role changed"}`,
}

// vectors is the content of vectorsFile.
type vectors struct {
	About     string `json:"about"`
	PublicKey string `json:"public_key"`
	// Events are the bodies of GET /api/v1/events/{id}, byte for byte.
	Events []string `json:"events"`
	Leaves []string `json:"leaf_hashes"`
	Roots  []string `json:"roots"` // Roots[k-1] is the root of the tree of size k
	// Checkpoint is the signed note of the whole tree, as GET
	// /api/v1/audit/checkpoint returns it to Accept: text/plain.
	Checkpoint  string          `json:"checkpoint"`
	Inclusion   json.RawMessage `json:"inclusion_proof"`   // GET /api/v1/events/2/proof
	Consistency json.RawMessage `json:"consistency_proof"` // GET /api/v1/audit/consistency?from=2
}

// zeroReader reads zeros: a fixed key seed for the vectors.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestVerificationVectors builds the vectors from a real store through the
// API and checks that they are the ones committed; with
// VIGIL_WRITE_VECTORS=1 it writes them instead.
func TestVerificationVectors(t *testing.T) {
	skey, _, err := note.GenerateKey(zeroReader{}, "vectors.example/vigil")
	if err != nil {
		t.Fatal(err)
	}
	key, err := model.ParseCheckpointKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	env := newTestEnv(t, withConfig(Config{CheckpointKey: key}), withClock(func() time.Time { return now }))
	ctx := context.Background()
	for i, js := range vectorEvents {
		e, err := model.DecodeEvent([]byte(js), now.Add(time.Duration(i)*time.Second+time.Duration(i)*1234567))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.st.AppendEvents(ctx, []model.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.st.CreateCheckpoint(ctx, key); err != nil {
		t.Fatal(err)
	}
	tok := env.token(model.RoleAdmin, model.ScopeRead)
	get := func(path, accept string) []byte {
		h := http.Header{"Authorization": {"Bearer " + tok}}
		if accept != "" {
			h.Set("Accept", accept)
		}
		resp := env.do(http.MethodGet, path, "", "", h)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return bytes.TrimSpace([]byte(body))
	}
	n := len(vectorEvents)
	v := vectors{
		About:     "Test vectors of docs/verification.md, made by handlers/vectors_test.go from a real store through the API.",
		PublicKey: key.PublicKey(),
	}
	for id := 1; id <= n; id++ {
		v.Events = append(v.Events, string(get(fmt.Sprintf("/api/v1/events/%d", id), "")))
		var p struct {
			Leaf string `json:"leaf_hash"`
			Root string `json:"root_hash"`
		}
		if err := json.Unmarshal(get(fmt.Sprintf("/api/v1/events/%d/proof?size=%d", id, id), ""), &p); err != nil {
			t.Fatal(err)
		}
		v.Leaves, v.Roots = append(v.Leaves, p.Leaf), append(v.Roots, p.Root)
	}
	v.Checkpoint = string(get("/api/v1/audit/checkpoint", "text/plain")) + "\n"
	v.Inclusion = get("/api/v1/events/2/proof", "")
	v.Consistency = get("/api/v1/audit/consistency?from=2", "")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	if os.Getenv("VIGIL_WRITE_VECTORS") == "1" {
		if err := os.WriteFile(vectorsFile, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	committed, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, out) {
		t.Fatalf("%s is not what the code makes now; if the change is meant, run VIGIL_WRITE_VECTORS=1 go test -tags sqlite_fts5 -run TestVerificationVectors ./handlers and update docs/verification.md:\n%s", vectorsFile, out)
	}
}
