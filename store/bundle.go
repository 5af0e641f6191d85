package store

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"vigil/model"
)

// An export bundle is a JSON document that proves itself off the box, with
// no database: the exported events in the chain's canonical form, each
// with its RFC 6962 inclusion proof, and the signed checkpoint the proofs
// lead to. VerifyBundle checks one with the checkpoints' verifier key
// (docs/verification.md, docs/operations.md "For auditors").

// BundleFormat names the bundle format and its version.
const BundleFormat = "vigil-bundle/1"

// Bundle is an export bundle.
type Bundle struct {
	BundleHeader
	Events []BundleEvent `json:"events"`
	BundleRange
}

// BundleHeader opens a bundle: what it is and the checkpoint its proofs
// are against.
type BundleHeader struct {
	Format    string `json:"format"`
	CreatedAt string `json:"created_at"`
	Scope     string `json:"scope"`   // all or page, as for the CSV export
	Filters   string `json:"filters"` // the export's filter as a query string
	// Checkpoint is the C2SP signed note of the tree head (as GET
	// /api/v1/audit/checkpoint returns it); every proof is against it.
	Checkpoint string `json:"checkpoint"`
}

// BundleRange closes a bundle: how many events it holds and whether they
// are every event from FirstID to LastID. An export of every event (no
// filter, a role that sees everything) is contiguous; a filtered one is
// not, and then proves its events without saying none was left out.
type BundleRange struct {
	Count      int   `json:"count"`
	Contiguous bool  `json:"contiguous"`
	FirstID    int64 `json:"first_id"`
	LastID     int64 `json:"last_id"`
}

// BundleEvent is one event of a bundle: its content (Event) with the hash
// of the event before it, from which its chain hash and leaf are
// recomputed, or, redacted by retention, only its commitment. Proof is its
// inclusion proof as leaf ID-1 of the checkpoint's tree.
type BundleEvent struct {
	ID       int64               `json:"id"`
	Hash     string              `json:"hash"`
	PrevHash string              `json:"prev_hash,omitempty"`
	Event    *CanonicalEvent     `json:"event,omitempty"`
	Redacted *RedactedCommitment `json:"redacted,omitempty"`
	Proof    []string            `json:"proof"`
}

// CanonicalEvent is an event as its chain hash covers it: the stored
// column values, "" for NULL, in the order of the canonical encoding.
type CanonicalEvent struct {
	ID              int64  `json:"id"`
	EventID         string `json:"event_id"`
	Time            string `json:"time"`
	TimeNS          int64  `json:"time_ns"`
	ReceivedAt      int64  `json:"received_at"`
	Source          string `json:"source"`
	Category        string `json:"category"`
	Type            string `json:"type"`
	Outcome         string `json:"outcome"`
	Severity        string `json:"severity"`
	ActorType       string `json:"actor_type"`
	ActorID         string `json:"actor_id"`
	ActorDN         string `json:"actor_dn"`
	ActorIP         string `json:"actor_ip"`
	EntityType      string `json:"entity_type"`
	EntityID        string `json:"entity_id"`
	CertSerial      string `json:"cert_serial"`
	CertFingerprint string `json:"cert_fingerprint"`
	CertSubject     string `json:"cert_subject"`
	AgentID         string `json:"agent_id"`
	Host            string `json:"host"`
	App             string `json:"app"`
	Process         string `json:"process"`
	Command         string `json:"command"`
	Policy          string `json:"policy"`
	Tenant          string `json:"tenant"`
	Message         string `json:"message"`
	Details         string `json:"details"`
}

// canonicalPairs pairs each field of r with the same field of c: the one
// list both conversions below use.
func canonicalPairs(r *row, c *CanonicalEvent) ([][2]*string, [][2]*int64) {
	return [][2]*string{
			{&r.eventID, &c.EventID}, {&r.time, &c.Time},
			{&r.source, &c.Source}, {&r.category, &c.Category}, {&r.typ, &c.Type}, {&r.outcome, &c.Outcome}, {&r.severity, &c.Severity},
			{&r.actorType, &c.ActorType}, {&r.actorID, &c.ActorID}, {&r.actorDN, &c.ActorDN}, {&r.actorIP, &c.ActorIP},
			{&r.entityType, &c.EntityType}, {&r.entityID, &c.EntityID},
			{&r.certSerial, &c.CertSerial}, {&r.certFingerprint, &c.CertFingerprint}, {&r.certSubject, &c.CertSubject},
			{&r.agentID, &c.AgentID}, {&r.host, &c.Host}, {&r.app, &c.App}, {&r.process, &c.Process}, {&r.command, &c.Command},
			{&r.policy, &c.Policy}, {&r.tenant, &c.Tenant}, {&r.message, &c.Message}, {&r.details, &c.Details},
		}, [][2]*int64{
			{&r.id, &c.ID}, {&r.timeNS, &c.TimeNS}, {&r.receivedAt, &c.ReceivedAt},
		}
}

// canonicalEvent returns the values of r its chain hash covers.
func (r *row) canonicalEvent() *CanonicalEvent {
	var c CanonicalEvent
	strs, nums := canonicalPairs(r, &c)
	for _, p := range strs {
		*p[1] = *p[0]
	}
	for _, p := range nums {
		*p[1] = *p[0]
	}
	return &c
}

// row returns the stored row whose chain hash covers c.
func (c *CanonicalEvent) row() row {
	var r row
	strs, nums := canonicalPairs(&r, c)
	for _, p := range strs {
		*p[0] = *p[1]
	}
	for _, p := range nums {
		*p[0] = *p[1]
	}
	return r
}

// RedactedCommitment is what retention keeps of a redacted event besides
// its id and chain hash. Only the chain hash is proven; the content hash
// lets whoever holds the original event show it is the one redacted.
type RedactedCommitment struct {
	By          int64  `json:"by"`
	ContentHash string `json:"content_hash"`
	Time        string `json:"time"`
	ReceivedAt  int64  `json:"received_at"`
	Source      string `json:"source"`
	Category    string `json:"category"`
	Tenant      string `json:"tenant"`
}

// BundleRequest says what WriteBundle exports.
type BundleRequest struct {
	BundleHeader // Format and Checkpoint are set by WriteBundle
	// Signed is the checkpoint the proofs are against; it must cover
	// every event to export.
	Signed StoredCheckpoint
	// Filter selects the events: every one of it up to the checkpoint or,
	// when IDs is not nil, those of IDs (a page of it).
	Filter model.EventFilter
	IDs    []int64
}

// WriteBundle writes the bundle of req to w, event by event, in id order,
// and returns how many events it holds. The events are read in one
// snapshot, and the checkpoint is checked against it first.
func (s *Store) WriteBundle(ctx context.Context, w io.Writer, req BundleRequest) (int, error) {
	f := req.Filter
	size := req.Signed.Size
	if f.Before == 0 || f.Before > int64(size)+1 {
		f.Before = int64(size) + 1
	}
	s.waitIndexed(ctx, f)
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("store: bundle: %w", err)
	}
	defer tx.Rollback()
	p, err := newProver(ctx, tx, req.Signed.Checkpoint)
	if err != nil {
		return 0, err
	}
	q, args := `SELECT `+eventColumns+` FROM events WHERE false`, []any(nil)
	switch {
	case len(req.IDs) > 0:
		q = `SELECT ` + eventColumns + ` FROM events WHERE id IN (` + placeholders(len(req.IDs)) + `) AND id < ? ORDER BY id`
		for _, id := range req.IDs {
			args = append(args, id)
		}
		args = append(args, f.Before)
		f = model.EventFilter{Visibility: f.Visibility} // the ids are the query
	case req.IDs == nil:
		if q, args, err = s.orderedEventQuery(ctx, f, "ASC"); err != nil {
			return 0, err
		}
	}
	h := req.BundleHeader
	h.Format, h.Checkpoint = BundleFormat, req.Signed.Note
	bw := newBundleWriter(w, h)
	rng := BundleRange{Contiguous: req.Filter.Visibility.All() && len(req.Filter.Query()) == 0}
	var failed error
	err = eachRow(ctx, tx, s.d, q, args, func(r *row, hash []byte) bool {
		ev, err := p.prove(ctx, r, hash)
		if err == nil {
			err = bw.event(ev)
		}
		if err != nil {
			failed = err
			return false
		}
		if rng.Count == 0 {
			rng.FirstID = r.id
		}
		rng.LastID = r.id
		rng.Count++
		return true
	})
	if failed != nil {
		return rng.Count, failed
	}
	if err != nil {
		return rng.Count, fmt.Errorf("store: bundle: %w", err)
	}
	rng.Contiguous = rng.Contiguous && rng.Count > 0
	return rng.Count, bw.finish(rng)
}

// bundleWriter writes a Bundle as it is read, one event at a time: the
// header's fields, the events, then the range's fields, as one JSON
// object.
type bundleWriter struct {
	w     *bufio.Writer
	err   error
	first bool
}

func newBundleWriter(w io.Writer, h BundleHeader) *bundleWriter {
	bw := &bundleWriter{w: bufio.NewWriterSize(w, 64<<10), first: true}
	b, err := json.Marshal(h)
	bw.err = err
	bw.write(b[:len(b)-1]) // without its closing brace
	bw.write([]byte(`,"events":[`))
	return bw
}

func (bw *bundleWriter) write(b []byte) {
	if bw.err == nil {
		_, bw.err = bw.w.Write(b)
	}
}

func (bw *bundleWriter) event(ev BundleEvent) error {
	b, err := json.Marshal(ev)
	if err != nil && bw.err == nil {
		bw.err = err
	}
	if !bw.first {
		bw.write([]byte{','})
	}
	bw.first = false
	bw.write([]byte{'\n'})
	bw.write(b)
	return bw.err
}

func (bw *bundleWriter) finish(rng BundleRange) error {
	b, err := json.Marshal(rng)
	if err != nil {
		return err
	}
	bw.write([]byte("\n],"))
	bw.write(b[1:]) // without its opening brace
	bw.write([]byte{'\n'})
	if bw.err == nil {
		bw.err = bw.w.Flush()
	}
	return bw.err
}

// prover makes the inclusion proofs of a bundle's events against one
// checkpoint, keeping the tree nodes it has read: neighbouring events
// share most of theirs.
type prover struct {
	q        querier
	size     uint64
	nodes    map[compact.NodeID][]byte
	prevID   int64
	prevHash []byte
}

// maxProverNodes bounds the nodes a prover keeps.
const maxProverNodes = 1 << 16

// newProver checks that the tree of the first cp.Size events read through
// q has cp's root.
func newProver(ctx context.Context, q querier, cp model.Checkpoint) (*prover, error) {
	r, err := loadRange(ctx, q, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("store: bundle: %w", err)
	}
	root, err := rootOf(r)
	if err != nil {
		return nil, fmt.Errorf("store: bundle: %w", err)
	}
	if !bytes.Equal(root, cp.Root) {
		return nil, fmt.Errorf("store: bundle: the tree of the first %d events differs from the checkpoint of %s: run vigil verify",
			cp.Size, cp.Time.UTC().Format(time.RFC3339))
	}
	return &prover{q: q, size: cp.Size, nodes: map[compact.NodeID][]byte{}}, nil
}

func (p *prover) node(ctx context.Context, id compact.NodeID) ([]byte, error) {
	if h, ok := p.nodes[id]; ok {
		return h, nil
	}
	h, err := nodeHash(ctx, p.q, id)
	if err != nil {
		return nil, err
	}
	if len(p.nodes) >= maxProverNodes {
		clear(p.nodes)
	}
	p.nodes[id] = h
	return h, nil
}

// prove returns the bundle form of the stored event r with chain hash h.
func (p *prover) prove(ctx context.Context, r *row, h []byte) (BundleEvent, error) {
	nodes, err := proof.Inclusion(uint64(r.id-1), p.size)
	if err != nil {
		return BundleEvent{}, fmt.Errorf("store: bundle: event %d: %w", r.id, err)
	}
	hashes, err := proofHashes(nodes, func(id compact.NodeID) ([]byte, error) { return p.node(ctx, id) })
	if err != nil {
		return BundleEvent{}, fmt.Errorf("store: bundle: event %d: %w", r.id, err)
	}
	ev := BundleEvent{ID: r.id, Hash: hex.EncodeToString(h), Proof: hexAll(hashes)}
	if r.outcome == model.OutcomeRedacted {
		by, ch, ok := redactedParts(r)
		if !ok {
			return ev, fmt.Errorf("store: bundle: event %d is marked redacted but is not in the form retention redacts to: run vigil verify", r.id)
		}
		ev.Redacted = &RedactedCommitment{By: by, ContentHash: hex.EncodeToString(ch), Time: r.time,
			ReceivedAt: r.receivedAt, Source: r.source, Category: r.category, Tenant: r.tenant}
	} else {
		prev := p.prevHash
		if p.prevID != r.id-1 || prev == nil {
			if prev, err = hashAt(ctx, p.q, r.id-1); err != nil {
				return ev, fmt.Errorf("store: bundle: %w", err)
			}
		}
		ev.PrevHash, ev.Event = hex.EncodeToString(prev), r.canonicalEvent()
	}
	p.prevID, p.prevHash = r.id, h
	return ev, nil
}
