package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"strings"
	"time"

	"vigil/model"
)

// Retention works under records in the chain (SPEC §7; docs/storage.md):
//
//   - It removes only the oldest events: every event up to the first one its
//     rule keeps. The events above that which the rule drops are redacted
//     instead: their content goes, their commitment (id, times, source,
//     category, tenant, chain hash and a hash of the content) stays.
//   - Before it touches an event, it appends a retention record (an
//     AUDIT_LOG event of actor SYSTEM, type E_RETENTION_APPLIED) stating the
//     rule, the last event of the removed prefix and its hash, and the set of
//     redacted events above it (count and digest of their commitments). A
//     crash after the record leaves the database as the record describes or
//     short of it, which verify accepts; the next run finishes the work.
//   - VerifyChain accepts a missing event only inside the prefix the newest
//     record covers, and a redacted event only inside its set.

const (
	// RetentionRecordType is the type of a retention record.
	RetentionRecordType = "E_RETENTION_APPLIED"
	// RetentionLegacyType is the type of the one event that acknowledges
	// what retention removed before it kept records in the chain.
	RetentionLegacyType = "E_RETENTION_ACKNOWLEDGED"
	// redactedType is the type of a redacted event.
	redactedType = "REDACTED"
)

// RetentionPolicy says which events retention removes, by receive time:
// rules by category, tenant or both, the most specific of which decides
// for an event (model.RuleRank), and legal holds, which keep what they
// cover whatever the rules say.
type RetentionPolicy struct {
	Cutoff      time.Time         // the default rule (--retention): events received before it go; zero: none
	AuditCutoff time.Time         // the AUDIT_LOG rule (--retention-audit); zero: none
	Rules       []RetentionCutoff // rules by category, tenant or both
	Holds       []model.LegalHold
	ChunkSize   int // events removed or redacted per transaction (default 2000)

	// crashAfter, in tests, stops the run as a crash would: after the
	// record and crashAfter-1 chunks (0: never).
	crashAfter int
	// twoCutoffRecord, in tests, writes the record as versions before
	// rules by category and tenant did: two cutoffs, no rules or holds.
	twoCutoffRecord bool
}

// RetentionCutoff is a rule by category, tenant or both ("" any) at the
// time of a run: the events it decides for go when received before Before
// (zero: never).
type RetentionCutoff struct {
	Category, Tenant string
	Before           time.Time
	Keep             string // how long the rule keeps events ("90d"), as the record states it
}

// PolicyAt is the policy of rules (their Keep counted back from now) and
// holds at time now.
func PolicyAt(now time.Time, rules []model.RetentionRule, holds []model.LegalHold) RetentionPolicy {
	p := RetentionPolicy{Holds: holds}
	for _, r := range rules {
		c := RetentionCutoff{Category: r.Category, Tenant: r.Tenant, Keep: r.KeepText()}
		if r.Keep > 0 {
			c.Before = now.Add(-r.Keep)
		}
		switch {
		case r.Category == "" && r.Tenant == "":
			p.Cutoff = c.Before
		case r.Category == model.CategoryAuditLog && r.Tenant == "":
			p.AuditCutoff = c.Before
		default:
			p.Rules = append(p.Rules, c)
		}
	}
	return p
}

// cutoffs returns every rule of p, the default and AUDIT_LOG ones first.
func (p RetentionPolicy) cutoffs() []RetentionCutoff {
	return append([]RetentionCutoff{{Before: p.Cutoff}, {Category: model.CategoryAuditLog, Before: p.AuditCutoff}}, p.Rules...)
}

// RetentionResult says what a retention run did.
type RetentionResult struct {
	RecordID int64 // the run's retention record; 0 when there was nothing to do
	Removed  int64 // events removed by this run
	FirstID  int64 // lowest id removed by this run
	LastID   int64 // every event up to it is now removed
	LastHash []byte
	Redacted int64 // events redacted by this run
	BaseID   int64 // the chain continues from this id and hash
	BaseHash []byte
}

// retentionRule is a policy in the form a record states and verify
// applies: cutoffs by category and tenant, and holds.
type retentionRule struct {
	cuts  []ruleCut
	holds []holdSpan
}

// ruleCut is one rule: the events of category and tenant ("" any) received
// before cut (Unix ns; math.MinInt64: none) go.
type ruleCut struct {
	category, tenant string
	cut              int64
}

// holdSpan is one legal hold: the events of tenant ("" any) received in
// [from, to] are kept.
type holdSpan struct {
	tenant   string
	from, to int64
}

func unixNanoOr(t time.Time, zero int64) int64 {
	if t.IsZero() {
		return zero
	}
	return t.UnixNano()
}

func ruleOf(p RetentionPolicy) retentionRule {
	var r retentionRule
	for _, c := range p.cutoffs() {
		r.cuts = append(r.cuts, ruleCut{category: c.Category, tenant: c.Tenant, cut: unixNanoOr(c.Before, math.MinInt64)})
	}
	for _, h := range p.Holds {
		r.holds = append(r.holds, holdSpan{tenant: h.Tenant, from: unixNanoOr(h.From, math.MinInt64), to: unixNanoOr(h.To, math.MaxInt64)})
	}
	return r
}

// held returns the index of the first hold covering an event of tenant
// received at receivedAt, or -1.
func (r retentionRule) held(tenant string, receivedAt int64) int {
	for i, h := range r.holds {
		if (h.tenant == "" || h.tenant == tenant) && receivedAt >= h.from && receivedAt <= h.to {
			return i
		}
	}
	return -1
}

// deciding returns the index of the rule that decides for an event of
// category and tenant (the most specific that matches; of equals, the one
// that keeps longer: the earlier cutoff), or -1.
func (r retentionRule) deciding(category, tenant string) int {
	best, bestRank := -1, -1
	for i, c := range r.cuts {
		rank := model.RuleRank(c.category, c.tenant, category, tenant)
		if rank > bestRank || rank >= 0 && rank == bestRank && c.cut < r.cuts[best].cut {
			best, bestRank = i, rank
		}
	}
	return best
}

// drops reports whether the rule drops an event of category and tenant
// received at receivedAt: its deciding rule's cutoff is later, and no hold
// covers it.
func (r retentionRule) drops(category, tenant string, receivedAt int64) bool {
	i := r.deciding(category, tenant)
	return i >= 0 && receivedAt < r.cuts[i].cut && r.held(tenant, receivedAt) < 0
}

// isRecord reports whether r is one of Vigil's own retention records. They
// are removed with the oldest events but never redacted: redacted events
// name the record that redacted them.
func (r *row) isRecord() bool {
	return r.source == model.SourceInternal && r.category == model.CategoryAuditLog &&
		(r.typ == RetentionRecordType || r.typ == RetentionLegacyType)
}

// redactable reports whether the rule redacts r when it sits above the
// removed prefix.
func (rule retentionRule) redactable(r *row) bool {
	return !r.isRecord() && rule.drops(r.category, r.tenant, r.receivedAt)
}

// retentionRecord is the details of a retention record.
type retentionRecord struct {
	Rule string `json:"rule"`
	// Rules and Holds are what the run applied. Records written before
	// rules by category and tenant have neither, but two cutoffs:
	// ReceivedBefore and AuditReceivedBefore (RFC 3339, nanoseconds) for
	// events other than AUDIT_LOG and for AUDIT_LOG; empty: none of them
	// goes.
	Rules               []recordRule `json:"rules,omitempty"`
	Holds               []recordHold `json:"holds,omitempty"`
	ReceivedBefore      string       `json:"received_before,omitempty"`
	AuditReceivedBefore string       `json:"audit_received_before,omitempty"`
	// Every event up to LastRemovedID is removed (or, after a crash, about
	// to be); LastRemovedHash is its chain hash.
	Removed         int64  `json:"removed"`
	FirstRemovedID  int64  `json:"first_removed_id,omitempty"`
	LastRemovedID   int64  `json:"last_removed_id"`
	LastRemovedHash string `json:"last_removed_hash"`
	// Redacted is how many events this run redacts; Redaction the whole set
	// of redacted events above LastRemovedID once it is done.
	Redacted  int64        `json:"redacted"`
	Redaction redactionSet `json:"redaction"`
}

// recordRule is a rule as a record states it: the events of Category and
// Tenant ("" any) received before ReceivedBefore go ("": none).
type recordRule struct {
	Category       string `json:"category,omitempty"`
	Tenant         string `json:"tenant,omitempty"`
	Keep           string `json:"keep,omitempty"`
	ReceivedBefore string `json:"received_before,omitempty"`
}

// text is the rule as a sentence.
func (r recordRule) text() string {
	s := model.DescribeRuleScope(r.Category, r.Tenant)
	if r.ReceivedBefore == "" {
		return s + ": kept forever"
	}
	if r.Keep != "" {
		s += " (kept " + r.Keep + ")"
	}
	return s + ": dropped when received before " + r.ReceivedBefore
}

// recordHold is a legal hold as a record states it: the events of Tenant
// ("" any) received in [ReceivedFrom, ReceivedTo] ("": unbounded) are kept.
type recordHold struct {
	ID           int64  `json:"id,omitempty"`
	Tenant       string `json:"tenant,omitempty"`
	ReceivedFrom string `json:"received_from,omitempty"`
	ReceivedTo   string `json:"received_to,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// rulePrecedence is how a record states which rule decides.
const rulePrecedence = "the most specific rule decides: category and tenant, then category or tenant (of the two, the one that keeps longer), then all other events"

// recordTime is how a record writes a time: RFC 3339 with nanoseconds, UTC;
// "" for the zero time.
func recordTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// redactionSet names a set of redacted events: those with an id in
// [FirstID, LastID] that are redacted or that the record's rule redacts.
// Digest is the SHA-256 of their commitments in id order.
type redactionSet struct {
	Count   int64  `json:"count"`
	FirstID int64  `json:"first_id,omitempty"`
	LastID  int64  `json:"last_id,omitempty"`
	Digest  string `json:"digest"`
}

// rule reads the rule a record states, in either form.
func (rec *retentionRecord) rule() (retentionRule, error) {
	var r retentionRule
	parse := func(text string, zero int64) (int64, error) {
		if text == "" {
			return zero, nil
		}
		t, err := time.Parse(time.RFC3339Nano, text)
		if err != nil {
			return 0, fmt.Errorf("time %q: %w", text, err)
		}
		return t.UnixNano(), nil
	}
	for _, c := range rec.statedRules() {
		cut, err := parse(c.ReceivedBefore, math.MinInt64)
		if err != nil {
			return r, err
		}
		r.cuts = append(r.cuts, ruleCut{category: c.Category, tenant: c.Tenant, cut: cut})
	}
	for _, h := range rec.Holds {
		from, err := parse(h.ReceivedFrom, math.MinInt64)
		if err != nil {
			return r, err
		}
		to, err := parse(h.ReceivedTo, math.MaxInt64)
		if err != nil {
			return r, err
		}
		r.holds = append(r.holds, holdSpan{tenant: h.Tenant, from: from, to: to})
	}
	return r, nil
}

// statedRules returns the rules the record states; a record with two
// cutoffs states the default rule and the AUDIT_LOG rule.
func (rec *retentionRecord) statedRules() []recordRule {
	if rec.Rules != nil {
		return rec.Rules
	}
	return []recordRule{{ReceivedBefore: rec.ReceivedBefore}, {Category: model.CategoryAuditLog, ReceivedBefore: rec.AuditReceivedBefore}}
}

// ruleFor says which of the record's rules decided for a redacted event of
// category and tenant, as a sentence.
func (rec *retentionRecord) ruleFor(category, tenant string) string {
	r, err := rec.rule()
	if err != nil {
		return rec.Rule
	}
	i := r.deciding(category, tenant)
	if i < 0 {
		return rec.Rule
	}
	return rec.statedRules()[i].text()
}

// redactionDigest accumulates the commitments of a redaction set.
type redactionDigest struct {
	h     hash.Hash
	count int64
	first int64
	last  int64
	buf   []byte
}

func newRedactionDigest() *redactionDigest {
	d := &redactionDigest{h: sha256.New()}
	d.h.Write([]byte("vigil-redaction-v1\x00"))
	return d
}

// add appends the commitment of r (intact or redacted), whose chain hash
// is h and content hash ch.
func (d *redactionDigest) add(r *row, h, ch []byte) {
	b := d.buf[:0]
	field := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, n := range []int64{r.id, r.timeNS, r.receivedAt} {
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	field(r.time)
	field(r.source)
	field(r.category)
	field(r.tenant)
	field(string(h))
	field(string(ch))
	d.h.Write(b)
	d.buf = b
	if d.count == 0 {
		d.first = r.id
	}
	d.last = r.id
	d.count++
}

func (d *redactionDigest) set() redactionSet {
	return redactionSet{Count: d.count, FirstID: d.first, LastID: d.last, Digest: hex.EncodeToString(d.h.Sum(nil))}
}

// contentHash is the hash of an event's content: SHA-256 of its canonical
// encoding. Whoever holds a copy of the event can show it is the one that
// was redacted.
func contentHash(r *row) []byte {
	sum := sha256.Sum256(r.canonical(nil))
	return sum[:]
}

// redactedDetails is the details of a redacted event.
type redactedDetails struct {
	Redacted struct {
		By          int64  `json:"by"`
		ContentHash string `json:"content_hash"`
	} `json:"redacted"`
}

// redactedRow is r redacted by record by: the commitment stays, the
// content is replaced by a note of what happened.
func redactedRow(r *row, by int64, ch []byte) row {
	return row{
		id: r.id, time: r.time, timeNS: r.timeNS, receivedAt: r.receivedAt,
		source: r.source, category: r.category, tenant: r.tenant,
		typ: redactedType, outcome: model.OutcomeRedacted, severity: "info",
		message: fmt.Sprintf("Content removed by retention (record %d); id, times, source, category, tenant and hashes kept.", by),
		details: fmt.Sprintf(`{"redacted":{"by":%d,"content_hash":"%x"}}`, by, ch),
	}
}

// redactSQL turns a row into its redacted form (redactedRow): the
// commitment columns stay, type, outcome, severity, message and details are
// bound in that order, then the id; every other column becomes NULL.
var redactSQL = func() string {
	var set []string
	for _, c := range insertColumns {
		switch c {
		case "id", "time", "time_ns", "received_at", "source", "category", "tenant", "hash":
		case "type", "outcome", "severity", "message", "details":
			set = append(set, c+" = ?")
		default:
			set = append(set, c+" = NULL")
		}
	}
	return `UPDATE events SET ` + strings.Join(set, ", ") + ` WHERE id = ?`
}()

// redactedParts reads back who redacted r and its content hash, checking
// that r is exactly the redacted form of its commitment.
func redactedParts(r *row) (by int64, ch []byte, ok bool) {
	var d redactedDetails
	if json.Unmarshal([]byte(r.details), &d) != nil {
		return 0, nil, false
	}
	ch, err := hex.DecodeString(d.Redacted.ContentHash)
	if err != nil || len(ch) != HashSize {
		return 0, nil, false
	}
	if redactedRow(r, d.Redacted.By, ch) != *r {
		return 0, nil, false
	}
	return d.Redacted.By, ch, true
}

// chainBase returns the id and hash the chain continues from: (0, zeros)
// until retention has removed a whole prefix.
func chainBase(ctx context.Context, q querier) (int64, []byte, error) {
	var id int64
	var h []byte
	err := q.QueryRowContext(ctx, `SELECT base_id, base_hash FROM chain_base`).Scan(&id, &h)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, make([]byte, HashSize), nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read chain base: %w", err)
	}
	return id, h, nil
}

// hashAt returns the chain hash of event id wherever it is kept: its row,
// the hashes retention left behind, or the chain base (zeros for id 0).
func hashAt(ctx context.Context, q querier, id int64) ([]byte, error) {
	if id == 0 {
		return make([]byte, HashSize), nil
	}
	var h []byte
	err := q.QueryRowContext(ctx, `SELECT hash FROM events WHERE id = ? UNION ALL SELECT hash FROM pruned_events WHERE id = ?
		UNION ALL SELECT base_hash FROM chain_base WHERE base_id = ? LIMIT 1`, id, id, id).Scan(&h)
	if err != nil {
		return nil, fmt.Errorf("hash of event %d: %w", id, err)
	}
	return h, nil
}

// missingEvent is the error for an event id with no row: EGONE naming the
// retention record that removed it (the oldest record whose removed prefix
// reaches id), ENOTFOUND for an id never used. It is ENOTFOUND as well
// should the lookup itself fail: the event is missing either way.
func missingEvent(ctx context.Context, d dialect, q querier, id int64) error {
	var rec, maxID int64
	err := q.QueryRowContext(ctx, `SELECT coalesce((SELECT r.id FROM retention_records r JOIN events e ON e.id = r.id
		WHERE `+d.jsonInt(`e.details`, `last_removed_id`)+` >= ? ORDER BY r.id LIMIT 1), 0),
		coalesce((SELECT max(id) FROM events), 0)`, id).Scan(&rec, &maxID)
	switch {
	case err == nil && rec > 0:
		return model.Errorf(model.EGONE, "event %d was removed by retention: see the retention record, event %d (/events/%d)", id, rec, rec)
	case err == nil && id >= 1 && id < maxID:
		if base, _, err := chainBase(ctx, q); err == nil && id <= base {
			return model.Errorf(model.EGONE, "event %d was removed by retention before it kept records in the chain (chain base: event %d)", id, base)
		}
	}
	return model.Errorf(model.ENOTFOUND, "event %d not found", id)
}

// retentionPlan is what a run will do, found on a reader before the record
// is written. Events up to limitID change only through retention, which
// runs one at a time, so the plan still holds when it is carried out.
type retentionPlan struct {
	rule     retentionRule
	limitID  int64
	first    int64 // lowest id to remove (0: none)
	last     int64 // every event up to it is to be removed
	lastHash []byte
	removed  int64
	redacted int64 // events to redact now
	set      redactionSet
	// usage is what each rule (rule.cuts, by index) keeps: the events the
	// run leaves intact below the newest block.
	usage []ruleUsage
}

// ruleUsage is how many events a rule keeps and their size, roughly (their
// canonical encoding: the columns without indexes or page overhead).
type ruleUsage struct{ events, bytes int64 }

// planRetention finds the prefix to remove and the events to redact.
func (s *Store) planRetention(ctx context.Context, rule retentionRule) (retentionPlan, error) {
	pl := retentionPlan{rule: rule, usage: make([]ruleUsage, len(rule.cuts))}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return pl, err
	}
	defer tx.Rollback()
	var maxID, minID int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0), coalesce(min(id), 0) FROM events`).Scan(&maxID, &minID); err != nil {
		return pl, err
	}
	// The newest block of 256 events is always kept, so the chain's tip and
	// the Merkle tree's right edge stay in place.
	pl.limitID = maxID / (1 << storedLevel) * (1 << storedLevel)
	pl.last = max(minID-1, 0)
	// The prefix: every event up to the first one the rule keeps (a
	// redacted event's content is gone already: it goes with the prefix,
	// unless a hold covers it).
	rows, err := tx.QueryContext(ctx, `SELECT id, category, tenant, received_at, outcome FROM events WHERE id <= ? ORDER BY id`, pl.limitID)
	if err != nil {
		return pl, err
	}
	for rows.Next() {
		var r row
		var tenant sql.NullString
		if err := rows.Scan(&r.id, &r.category, &tenant, &r.receivedAt, &r.outcome); err != nil {
			rows.Close()
			return pl, err
		}
		r.tenant = tenant.String
		if rule.held(r.tenant, r.receivedAt) >= 0 || (r.outcome != model.OutcomeRedacted && !rule.drops(r.category, r.tenant, r.receivedAt)) {
			break
		}
		if pl.first == 0 {
			pl.first = r.id
		}
		pl.last = r.id
		pl.removed++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return pl, err
	}
	if pl.lastHash, err = hashAt(ctx, tx, pl.last); err != nil {
		return pl, err
	}
	// The redaction set above it: what is redacted already and what the
	// rule redacts now.
	d := newRedactionDigest()
	rows, err = tx.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id > ? AND id <= ? ORDER BY id`, pl.last, pl.limitID)
	if err != nil {
		return pl, err
	}
	defer rows.Close()
	var buf []byte
	for rows.Next() {
		r, h, err := scanRow(rows)
		if err != nil {
			return pl, err
		}
		switch {
		case r.outcome == model.OutcomeRedacted:
			_, ch, ok := redactedParts(&r)
			if !ok {
				return pl, fmt.Errorf("event %d is not in the form retention redacts to (run vigil verify)", r.id)
			}
			d.add(&r, h, ch)
		case rule.redactable(&r):
			d.add(&r, h, contentHash(&r))
			pl.redacted++
		default:
			if i := rule.deciding(r.category, r.tenant); i >= 0 {
				buf = r.canonical(buf[:0])
				pl.usage[i].events++
				pl.usage[i].bytes += int64(len(buf))
			}
		}
	}
	if err := rows.Err(); err != nil {
		return pl, err
	}
	pl.set = d.set()
	return pl, nil
}

// ApplyRetention removes the oldest events p drops and redacts the later
// ones it drops, under a retention record it appends first. The work is
// done in chunks of one short transaction each, so that ingest is never
// held up for long.
func (s *Store) ApplyRetention(ctx context.Context, p RetentionPolicy) (RetentionResult, error) {
	s.retentionMu.Lock()
	defer s.retentionMu.Unlock()
	var res RetentionResult
	if p.ChunkSize <= 0 {
		p.ChunkSize = 2000
	}
	rule := ruleOf(p)
	pl, err := s.planRetention(ctx, rule)
	if err != nil {
		return res, fmt.Errorf("store: retention: %w", err)
	}
	res.FirstID, res.LastID, res.LastHash = pl.first, pl.last, pl.lastHash
	if err := s.storeRetentionUsage(ctx, p, pl); err != nil {
		return res, fmt.Errorf("store: retention: %w", err)
	}
	if pl.removed > 0 || pl.redacted > 0 {
		if res.RecordID, err = s.appendRetentionRecord(ctx, p, pl); err != nil {
			return res, fmt.Errorf("store: retention: %w", err)
		}
		if err := s.carryOut(ctx, p, pl, res.RecordID, &res); err != nil {
			return res, fmt.Errorf("store: retention: %w", err)
		}
	}
	if res.BaseID, res.BaseHash, err = chainBase(ctx, s.rdb); err != nil {
		return res, fmt.Errorf("store: retention: %w", err)
	}
	return res, nil
}

// errCrash stops a run where a test asks it to.
var errCrash = errors.New("stopped as by a crash")

// appendRetentionRecord appends the record of pl and lists it in
// retention_records (where verify finds the newest), in one transaction.
func (s *Store) appendRetentionRecord(ctx context.Context, p RetentionPolicy, pl retentionPlan) (int64, error) {
	rec := retentionRecord{
		Removed: pl.removed, FirstRemovedID: pl.first, LastRemovedID: pl.last,
		LastRemovedHash: hex.EncodeToString(pl.lastHash), Redacted: pl.redacted, Redaction: pl.set,
	}
	if p.twoCutoffRecord {
		rec.ReceivedBefore, rec.AuditReceivedBefore = recordTime(p.Cutoff), recordTime(p.AuditCutoff)
	} else {
		for _, c := range p.cutoffs() {
			rec.Rules = append(rec.Rules, recordRule{Category: c.Category, Tenant: c.Tenant, Keep: c.Keep, ReceivedBefore: recordTime(c.Before)})
		}
		for _, h := range p.Holds {
			rec.Holds = append(rec.Holds, recordHold{ID: h.ID, Tenant: h.Tenant, ReceivedFrom: recordTime(h.From), ReceivedTo: recordTime(h.To), Reason: h.Reason})
		}
	}
	var rules []string
	for _, r := range rec.statedRules() {
		rules = append(rules, r.text())
	}
	rec.Rule = strings.Join(rules, "; ") + " (" + rulePrecedence + "); the oldest are removed, those above the first kept event are redacted"
	if n := len(rec.Holds); n > 0 {
		rec.Rule += fmt.Sprintf("; %d legal holds keep what they cover", n)
	}
	details, err := toMap(rec)
	if err != nil {
		return 0, err
	}
	msg := fmt.Sprintf("Retention removes events %d-%d and redacts %d later events", pl.first, pl.last, pl.redacted)
	if pl.removed == 0 {
		msg = fmt.Sprintf("Retention redacts %d events; nothing up to event %d is kept", pl.redacted, pl.last)
	}
	return s.appendOwnRecord(ctx, func(tx *sql.Tx, id int64) (model.Event, error) {
		if _, err := tx.Exec(`INSERT INTO retention_records (id) VALUES (?)`, id); err != nil {
			return model.Event{}, err
		}
		return model.NewAuditEvent(s.now(), RetentionRecordType, "SUCCESS", model.SchedulerActor,
			model.Entity{Type: "CONFIG", ID: "retention"}, msg, details)
	})
}

// appendOwnRecord appends the event build returns in the writer's
// transaction, build being told the id it will have and doing its own
// writes in the same transaction.
func (s *Store) appendOwnRecord(ctx context.Context, build func(tx *sql.Tx, id int64) (model.Event, error)) (int64, error) {
	var want int64
	res, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		// The events of requests committed before this one in the batch are
		// in the table already: the record is the next id.
		if err := tx.QueryRow(`SELECT coalesce(max(id), 0) + 1 FROM events`).Scan(&want); err != nil {
			return nil, err
		}
		e, err := build(tx, want)
		if err != nil {
			return nil, err
		}
		return []model.Event{e}, nil
	})
	if err != nil {
		return 0, err
	}
	if len(res.IDs) != 1 || res.IDs[0] != want {
		return 0, fmt.Errorf("record stored as event %v, expected %d", res.IDs, want)
	}
	return want, nil
}

func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return m, d.Decode(&m)
}

// carryOut removes the prefix and redacts the set pl describes, under
// record recID.
func (s *Store) carryOut(ctx context.Context, p RetentionPolicy, pl retentionPlan, recID int64, res *RetentionResult) error {
	chunks := 0
	crash := func() bool {
		chunks++
		return p.crashAfter > 0 && chunks >= p.crashAfter
	}
	if crash() {
		return errCrash
	}
	// Whole partitions first (PostgreSQL), then the rest chunk by chunk.
	if err := s.dropPartitions(ctx, pl.last, res, crash); err != nil {
		return err
	}
	for after := int64(0); ; {
		ids, err := s.idsIn(ctx, after, pl.last, p.ChunkSize)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return s.redactAll(ctx, p, pl, recID, res, crash)
		}
		if err := s.removeChunk(ctx, ids); err != nil {
			return err
		}
		res.Removed += int64(len(ids))
		after = ids[len(ids)-1]
		if crash() {
			return errCrash
		}
	}
}

// idsIn returns up to n ids of stored events in (after, upTo].
func (s *Store) idsIn(ctx context.Context, after, upTo int64, n int) ([]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`, after, upTo, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// redactAll redacts, chunk by chunk, the events of pl's set that are not
// redacted yet.
func (s *Store) redactAll(ctx context.Context, p RetentionPolicy, pl retentionPlan, recID int64, res *RetentionResult, crash func() bool) error {
	for after := pl.last; pl.set.Count > 0 && after < pl.set.LastID; {
		n, next, err := s.redactChunk(ctx, pl.rule, recID, after, pl.set.LastID, p.ChunkSize)
		if err != nil {
			return err
		}
		res.Redacted += n
		after = next
		if n > 0 && crash() {
			return errCrash
		}
	}
	return nil
}

// removeChunk deletes ids (the oldest stored events) in one transaction,
// keeping their hashes, and moves the chain base past every fully removed
// 256-event block.
func (s *Store) removeChunk(ctx context.Context, ids []int64) (err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `INSERT INTO retention_gate (open) VALUES (1)`); err != nil {
		return err
	}
	// ids are every stored id from the first to the last.
	if err := s.uncount(ctx, tx, ids[0], ids[len(ids)-1]); err != nil {
		return err
	}
	keep, err := tx.PrepareContext(ctx, `INSERT INTO pruned_events (id, hash) SELECT id, hash FROM events WHERE id = ?`)
	if err != nil {
		return err
	}
	del, err := tx.PrepareContext(ctx, `DELETE FROM events WHERE id = ?`)
	if err != nil {
		return err
	}
	for _, id := range ids {
		for _, st := range []*sql.Stmt{keep, del} {
			if _, err := st.ExecContext(ctx, id); err != nil {
				return err
			}
		}
	}
	if err := s.moveBase(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM retention_gate`); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// The index follows; should this fail, searches join its entries to
	// events that are gone and find nothing for them.
	if err := s.ix.remove(ctx, ids); err != nil {
		return fmt.Errorf("unindex removed events: %w", err)
	}
	return nil
}

// uncount takes the events with ids lo to hi, about to be removed in tx,
// out of the rollups.
func (s *Store) uncount(ctx context.Context, tx *sql.Tx, lo, hi int64) error {
	if !s.rollups {
		return nil
	}
	st, err := readRollupState(ctx, tx)
	if err != nil {
		return err
	}
	removed := rollupDelta{}
	if err := countRange(ctx, tx, st, lo, hi, -1, removed); err != nil {
		return err
	}
	return removed.applyTx(ctx, tx)
}

// dropPartitions removes, oldest first, the partitions of events (on
// PostgreSQL) whose every id is at most last, each by dropping it in one
// transaction. A partition whose drop has to wait for a long read is left
// to removeChunk, as is the partition holding last.
func (s *Store) dropPartitions(ctx context.Context, last int64, res *RetentionResult, crash func() bool) error {
	p := s.eng.partitions()
	if p == nil {
		return nil
	}
	ks, err := p.list(ctx, s.rdb)
	if err != nil {
		return err
	}
	for _, k := range ks {
		if _, hi := p.bounds(k); hi > last {
			return nil
		}
		n, err := s.dropPartition(ctx, p, k)
		if isLockTimeout(err) {
			s.log.Warn("retention removes the events of a partition one by one: dropping it waited too long behind a read", "partition", partitionName(k), "err", err)
			return nil
		}
		if err != nil {
			return err
		}
		res.Removed += n
		if crash() {
			return errCrash
		}
	}
	return nil
}

// partitionDropWait is how long dropping a partition waits for the reads
// of the events table to end; the writer waits as long, at most.
const partitionDropWait = "2s"

// dropPartition drops partition k of p and returns how many events it
// held. Like removeChunk, it keeps the hash of its last event until the
// chain base moves past it (which it does at once unless the partition
// was never full).
func (s *Store) dropPartition(ctx context.Context, p *partitions, k int64) (n int64, err error) {
	lo, hi := p.bounds(k)
	name := partitionName(k)
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `INSERT INTO retention_gate (open) VALUES (1)`); err != nil {
		return 0, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+name).Scan(&n); err != nil {
		return 0, err
	}
	if err := s.uncount(ctx, tx, lo, hi); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO pruned_events (id, hash) SELECT id, hash FROM `+name+` WHERE id = ?`, hi); err != nil {
		return 0, err
	}
	// Dropping a partition locks the whole table: the reads in progress
	// finish first, and the reads that come meanwhile wait behind it.
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '`+partitionDropWait+`'`); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE `+name); err != nil {
		return 0, fmt.Errorf("drop event partition %s: %w", name, err)
	}
	if err := s.moveBase(ctx, tx); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM retention_gate`); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	if err := s.ix.removeRange(ctx, lo, hi); err != nil {
		return n, fmt.Errorf("unindex removed events: %w", err)
	}
	return n, nil
}

// moveBase moves the chain base past the blocks of 256 events now wholly
// removed, in tx, whose pruned_events hold the hash of the last removed
// event. The hashes of events removed before retention kept records
// (legacy) stay: the record acknowledging them covers exactly that set.
func (s *Store) moveBase(ctx context.Context, tx *sql.Tx) error {
	base, _, err := chainBase(ctx, tx)
	if err != nil {
		return err
	}
	var minKept sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT min(id) FROM events`).Scan(&minKept); err != nil {
		return err
	}
	if !minKept.Valid {
		return nil
	}
	newBase := (minKept.Int64 - 1) / (1 << storedLevel) * (1 << storedLevel)
	if newBase <= base {
		return nil
	}
	var h []byte
	if err := tx.QueryRowContext(ctx, `SELECT hash FROM pruned_events WHERE id = ?`, newBase).Scan(&h); err != nil {
		return fmt.Errorf("hash of event %d: %w", newBase, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO chain_base (one, base_id, base_hash, updated_at) VALUES (1, ?, ?, ?)
		ON CONFLICT (one) DO UPDATE SET base_id = excluded.base_id, base_hash = excluded.base_hash, updated_at = excluded.updated_at`,
		newBase, h, timeText(s.now())); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM pruned_events WHERE id <= ? AND legacy = 0`, newBase)
	return err
}

// redactChunk redacts, in one transaction, the events in (after, upTo]
// that rule redacts and that are not redacted yet, reading at most n rows.
// It returns how many it redacted and the last id it read.
func (s *Store) redactChunk(ctx context.Context, rule retentionRule, recID, after, upTo int64, n int) (int64, int64, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`, after, upTo, n)
	if err != nil {
		return 0, 0, err
	}
	var todo []row
	var was []row // each redacted row before
	next := upTo
	read := 0
	for rows.Next() {
		r, _, err := scanRow(rows)
		if err != nil {
			rows.Close()
			return 0, 0, err
		}
		read++
		next = r.id
		if r.outcome != model.OutcomeRedacted && rule.redactable(&r) {
			todo = append(todo, redactedRow(&r, recID, contentHash(&r)))
			was = append(was, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	if read < n {
		next = upTo
	}
	if len(todo) == 0 {
		return 0, next, nil
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO retention_gate (open) VALUES (1)`); err != nil {
		return 0, 0, err
	}
	upd, err := tx.PrepareContext(ctx, redactSQL)
	if err != nil {
		return 0, 0, err
	}
	// The rollups count a redacted event under type and outcome REDACTED,
	// as the listings show it.
	if s.rollups {
		st, err := readRollupState(ctx, tx)
		if err != nil {
			return 0, 0, err
		}
		moved := rollupDelta{}
		for i := range todo {
			if st.counts(todo[i].id) {
				moved.add(&was[i], -1)
				moved.add(&todo[i], 1)
			}
		}
		if err := moved.applyTx(ctx, tx); err != nil {
			return 0, 0, err
		}
	}
	docs := make(map[int64][]byte, len(todo))
	for i := range todo {
		r := &todo[i]
		if _, err := upd.ExecContext(ctx, r.typ, r.outcome, r.severity, r.message, r.details, r.id); err != nil {
			return 0, 0, fmt.Errorf("redact event %d: %w", r.id, err)
		}
		docs[r.id] = r.document(nil)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM retention_gate`); err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	// The removed content leaves the full-text index; the redacted event
	// is found by its category, tenant and type REDACTED.
	if err := s.ix.replace(ctx, docs); err != nil {
		return 0, 0, fmt.Errorf("reindex redacted events: %w", err)
	}
	return int64(len(todo)), next, nil
}

// acknowledgeLegacyRetention appends, once, the record that acknowledges
// what retention removed before it kept records in the chain (migration
// 0010 notes that there is such a state): the chain base and the hashes of
// the events removed above it, which verify then accepts as they are.
func (s *Store) acknowledgeLegacyRetention(ctx context.Context) error {
	// (A schema without migration 0010, as tests of upgrades open, has
	// nothing to acknowledge.)
	var pending int
	if legacy, err := s.eng.tableExists(ctx, s.wdb, "retention_legacy"); err != nil || !legacy {
		return err
	}
	if err := s.wdb.QueryRowContext(ctx, `SELECT count(*) FROM retention_legacy WHERE record_id IS NULL`).Scan(&pending); err != nil || pending == 0 {
		return err
	}
	_, err := s.appendOwnRecord(ctx, func(tx *sql.Tx, id int64) (model.Event, error) {
		base, baseHash, err := chainBase(ctx, tx)
		if err != nil {
			return model.Event{}, err
		}
		d, n, first, last, err := legacyDigest(ctx, tx, math.MaxInt64)
		if err != nil {
			return model.Event{}, err
		}
		if _, err := tx.Exec(`UPDATE retention_legacy SET record_id = ?`, id); err != nil {
			return model.Event{}, err
		}
		return model.NewAuditEvent(s.now(), RetentionLegacyType, "INFO", model.SchedulerActor, model.Entity{Type: "CONFIG", ID: "retention"},
			fmt.Sprintf("Acknowledged on upgrade, as found: events up to %d and %d later events were removed by retention before it kept records in the chain", base, n),
			map[string]any{"legacy": true, "chain_base_id": base, "chain_base_hash": hex.EncodeToString(baseHash),
				"removed_above_base": n, "first_removed_id": first, "last_removed_id": last, "removed_digest": d})
	})
	if err != nil {
		return fmt.Errorf("store: acknowledge earlier retention: %w", err)
	}
	return nil
}

// legacyDigest returns the digest of the hashes retention left behind
// before it kept records (legacy) up to id upTo, their count and first and
// last ids.
func legacyDigest(ctx context.Context, q querier, upTo int64) (string, int64, int64, int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, hash FROM pruned_events WHERE legacy = 1 AND id <= ? ORDER BY id`, upTo)
	if err != nil {
		return "", 0, 0, 0, err
	}
	defer rows.Close()
	h := sha256.New()
	h.Write([]byte("vigil-legacy-pruned-v1\x00"))
	var n, first, last int64
	var buf []byte
	for rows.Next() {
		var id int64
		var hh []byte
		if err := rows.Scan(&id, &hh); err != nil {
			return "", 0, 0, 0, err
		}
		buf = binary.BigEndian.AppendUint64(buf[:0], uint64(id))
		buf = binary.AppendUvarint(buf, uint64(len(hh)))
		h.Write(append(buf, hh...))
		if n == 0 {
			first = id
		}
		last = id
		n++
	}
	return hex.EncodeToString(h.Sum(nil)), n, first, last, rows.Err()
}
