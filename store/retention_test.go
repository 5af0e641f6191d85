package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"

	"vigil/model"
)

func TestRetentionKeepsVerifyGreen(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.Now()
	old := now.Add(-500 * 24 * time.Hour)
	var evs []model.Event
	for i := 1; i <= 2000; i++ {
		e := ev(t, fmt.Sprintf(`{"message":"event %d","category":"USAGE"}`, i))
		if i%10 == 0 {
			e.Category = model.CategoryAuditLog
		}
		if i <= 1200 {
			e.ReceivedAt = old
		}
		evs = append(evs, e)
	}
	for i := 0; i < len(evs); i += 250 {
		if _, err := s.AppendEvents(ctx, evs[i:i+250]); err != nil {
			t.Fatal(err)
		}
	}
	key, _ := model.ParseCheckpointKey(must(model.NewCheckpointKeyText("t.example/vigil")))
	if _, err := s.CreateCheckpoint(ctx, key); err != nil {
		t.Fatal(err)
	}
	verify := func(wantChecked, wantPruned, wantBase int64) {
		t.Helper()
		rep, err := s.VerifyChain(ctx, VerifyOptions{PublicKey: key.PublicKey()})
		if err != nil || !rep.OK {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		if rep.Checked != wantChecked || rep.Pruned != wantPruned || rep.BaseID != wantBase || rep.CheckpointsChecked < 1 {
			t.Fatalf("verify: checked %d pruned %d base %d checkpoints %d; want %d %d %d",
				rep.Checked, rep.Pruned, rep.BaseID, rep.CheckpointsChecked, wantChecked, wantPruned, wantBase)
		}
	}

	// AUDIT_LOG kept longer: the oldest events up to the first AUDIT_LOG
	// one go, the others the rule drops above it are redacted.
	res, err := s.ApplyRetention(ctx, RetentionPolicy{Cutoff: now.Add(-400 * 24 * time.Hour), AuditCutoff: now.Add(-1000 * 24 * time.Hour), ChunkSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 9 || res.FirstID != 1 || res.LastID != 9 || res.Redacted != 1071 || res.BaseID != 0 || res.RecordID != 2001 {
		t.Fatalf("first retention: %+v", res)
	}
	verify(921, 9, 0)
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	if _, err := s.EventByID(ctx, 5, admin); model.ErrorCode(err) != model.EGONE {
		t.Errorf("removed event still readable: %v", err)
	}
	if e, err := s.EventByID(ctx, 11, admin); err != nil || !e.Redacted() || e.Category != model.CategoryUsage || strings.Contains(e.Message, "event 11") {
		t.Errorf("redacted event reads as %+v %v", e, err)
	}
	// The words of removed and redacted content are gone from the index:
	// "event" finds the 920 kept events and the record (its rule says
	// "first kept event"), no redacted one.
	var found, redacted int
	s.ExportEvents(ctx, model.EventFilter{Q: "event", Visibility: admin}, func(e *model.Event) error {
		found++
		if e.Redacted() {
			redacted++
		}
		return nil
	})
	if found != 921 || redacted != 0 {
		t.Errorf("full text finds %d events (%d redacted), want 921 (none redacted)", found, redacted)
	}
	if n, _ := s.ExportEvents(ctx, model.EventFilter{Type: "REDACTED", Categories: []string{model.CategoryUsage}, Visibility: admin},
		func(*model.Event) error { return nil }); n != 1071 {
		t.Errorf("the type and category filters find %d redacted events, want 1071", n)
	}

	// Then the old AUDIT_LOG events go too: the prefix reaches the first
	// kept event, and the base moves past whole blocks.
	res, err = s.ApplyRetention(ctx, RetentionPolicy{Cutoff: now.Add(-400 * 24 * time.Hour), AuditCutoff: now.Add(-400 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 1191 || res.LastID != 1200 || res.Redacted != 0 || res.BaseID != 1024 || res.RecordID != 2002 {
		t.Fatalf("second retention: %+v", res)
	}
	verify(802, 1200-1024, 1024)
	// Nothing left to do: no record.
	if res, err := s.ApplyRetention(ctx, RetentionPolicy{Cutoff: now.Add(-400 * 24 * time.Hour)}); err != nil || res.RecordID != 0 {
		t.Fatalf("third retention: %+v %v", res, err)
	}

	// Intake goes on; the tree still proves kept events.
	appendN(t, s, 300, 100)
	verify(1102, 1200-1024, 1024)
	head, err := s.TreeHead(ctx)
	if err != nil || head.Size != 2302 {
		t.Fatalf("tree head %+v %v", head, err)
	}
	for _, id := range []int64{1201, 1500, 2302} {
		p, err := s.InclusionProof(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := hex.DecodeString(p.LeafHash)
		if err := proof.VerifyInclusion(hasher, uint64(id-1), head.Size, leaf, unhex(t, p.Hashes...), head.Root); err != nil {
			t.Fatalf("inclusion of %d after retention: %v", id, err)
		}
	}
	// Nothing but retention may delete.
	if _, err := s.wdb.Exec(`DELETE FROM events WHERE id = 1500`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("delete outside retention: %v", err)
	}
	// A tampered removed hash is caught.
	mustExec(t, s, `UPDATE pruned_events SET hash = ? WHERE id = 1100`, make([]byte, 32))
	rep, _ := s.VerifyChain(ctx, VerifyOptions{})
	if rep.OK || rep.FirstBad == nil || *rep.FirstBad != 1025 || !strings.Contains(rep.Reason, "events 1025-1280") {
		t.Fatalf("tampered pruned hash: %+v", rep)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func countSearch(t *testing.T, s *Store, q string) int {
	n, err := s.ExportEvents(context.Background(), model.EventFilter{Q: q, Visibility: model.VisibilityFor(model.User{Role: model.RoleAdmin})},
		func(*model.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// retentionFixture stores 1000 events, every 10th AUDIT_LOG, the first
// 600 received 500 days ago, and returns the policy that keeps AUDIT_LOG
// events longer than the others.
func retentionFixture(t *testing.T) (*Store, RetentionPolicy) {
	t.Helper()
	s := openTest(t)
	now := time.Now()
	var evs []model.Event
	for i := 1; i <= 1000; i++ {
		e := ev(t, fmt.Sprintf(`{"message":"event %d","tenant":"t%d","category":"USAGE","details":{"note":"word%d"}}`, i, i%3, i))
		if i%10 == 0 {
			e.Category = model.CategoryAuditLog
		}
		if i <= 600 {
			e.ReceivedAt = now.Add(-500 * 24 * time.Hour)
		}
		evs = append(evs, e)
	}
	if _, err := s.AppendEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	return s, RetentionPolicy{Cutoff: now.Add(-400 * 24 * time.Hour), AuditCutoff: now.Add(-1000 * 24 * time.Hour), ChunkSize: 200}
}

func verifyOK(t *testing.T, s *Store) ChainReport {
	t.Helper()
	rep, err := s.VerifyChain(context.Background(), VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	return rep
}

// redactByHand turns event id into its redacted form naming record by,
// through retention's gate, as someone with the database file could.
func redactByHand(t *testing.T, s *Store, id, by int64) {
	t.Helper()
	r, _, err := scanRow(s.wdb.QueryRow(`SELECT `+eventColumns+` FROM events WHERE id = ?`, id))
	if err != nil {
		t.Fatal(err)
	}
	red := redactedRow(&r, by, contentHash(&r))
	mustExec(t, s, `INSERT INTO retention_gate (open) VALUES (1)`)
	mustExec(t, s, `UPDATE events SET type = ?, outcome = ?, severity = ?, message = ?, details = ?, actor_type = NULL WHERE id = ?`,
		red.typ, red.outcome, red.severity, red.message, red.details, id)
	mustExec(t, s, `DELETE FROM retention_gate`)
}

func TestRetentionRedactsAmongKeptEvents(t *testing.T) {
	ctx := context.Background()
	s, p := retentionFixture(t)
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	orig, err := s.EventByID(ctx, 15, admin)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.ApplyRetention(ctx, p)
	if err != nil || res.Removed != 9 || res.LastID != 9 || res.Redacted != 600-60-9 || res.RecordID != 1001 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	rep := verifyOK(t, s)
	if rep.Redacted != 531 || rep.Pruned != 9 || rep.RetentionRecord != 1001 {
		t.Fatalf("verify: %+v", rep)
	}
	// The record states what was done, in the chain.
	rec, err := s.EventByID(ctx, 1001, admin)
	if err != nil || rec.Type != RetentionRecordType || rec.Source != model.SourceInternal || rec.Actor.Type != "SYSTEM" || rec.Category != model.CategoryAuditLog {
		t.Fatalf("record: %+v %v", rec, err)
	}
	var d retentionRecord
	if err := json.Unmarshal(rec.Details, &d); err != nil || d.LastRemovedID != 9 || d.Removed != 9 || d.Redaction.Count != 531 ||
		len(d.Rules) != 2 || d.Rules[0].ReceivedBefore == "" || d.Rules[1].Category != model.CategoryAuditLog || d.Rules[1].ReceivedBefore == "" ||
		!strings.Contains(d.Rule, "redacted") {
		t.Fatalf("record details %s: %v", rec.Details, err)
	}
	// A redacted event keeps its commitment; its content hash is that of
	// the original.
	red, err := s.EventByID(ctx, 15, admin)
	if err != nil || !red.Redacted() || red.Category != orig.Category || red.Tenant != orig.Tenant || !red.Time.Equal(orig.Time) ||
		!bytes.Equal(red.Hash, orig.Hash) || red.Message == orig.Message || red.Type != "REDACTED" {
		t.Fatalf("redacted event %+v %v", red, err)
	}
	r := toRow(15, &orig)
	if !strings.Contains(string(red.Details), fmt.Sprintf(`"content_hash":"%x"`, contentHash(&r))) {
		t.Fatalf("redacted details %s", red.Details)
	}
	// The words of the removed and redacted content are gone from the
	// index, those of kept events are still there.
	s.ix.waitFor(ctx, 1002)
	if s.ix.fts.words { // the words prefixes expand through (SQLite)
		var words []string
		rows, err := s.rdb.QueryContext(ctx, `SELECT term FROM fts.words_vocab WHERE term IN ('word5', 'word15', 'word599', 'word20', 'word601')`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var w string
			rows.Scan(&w)
			words = append(words, w)
		}
		rows.Close()
		if !slices.Equal(words, []string{"word20", "word601"}) {
			t.Fatalf("words of events 5, 15, 599 (gone), 20, 601 (kept) in the index: %v", words)
		}
	}
	for _, w := range []string{"word5", "word599"} {
		if n := countSearch(t, s, w); n != 0 {
			t.Fatalf("search for %s, a removed or redacted word, finds %d events", w, n)
		}
	}
	if n := countSearch(t, s, "word20"); n != 1 {
		t.Fatalf("search for word20, a kept event's, finds %d events", n)
	}
	if n := countSearch(t, s, "word15"); n != 0 {
		t.Fatalf("search for a redacted word finds %d events", n)
	}
	// Kept AUDIT_LOG events are untouched.
	if e, err := s.EventByID(ctx, 20, admin); err != nil || e.Redacted() || e.Message != "event 20" {
		t.Fatalf("kept event %+v %v", e, err)
	}
	// Only retention redacts, and only into the redacted form.
	if _, err := s.wdb.Exec(`UPDATE events SET message = 'x' WHERE id = 16`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("update outside retention: %v", err)
	}
	if _, err := s.wdb.Exec(`INSERT INTO retention_gate (open) VALUES (1); UPDATE events SET category = 'AUTH' WHERE id = 15`); err == nil {
		t.Fatal("the gate let a commitment change")
	}
	mustExec(t, s, `DELETE FROM retention_gate`)
	verifyOK(t, s)
}

// TestRedactedEventTamperDetected changes redacted events, or redacts
// others, after retention: verify fails.
func TestRedactedEventTamperDetected(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name         string
		tamper       func(t *testing.T, s *Store)
		wantFirstBad int64 // 0: none named
		wantReason   string
	}{
		{"Category", func(t *testing.T, s *Store) { mustExec(t, s, `UPDATE events SET category = 'AUTH' WHERE id = 15`) }, 0, "do not match retention record 1001"},
		{"CategoryToKept", func(t *testing.T, s *Store) { mustExec(t, s, `UPDATE events SET category = 'AUDIT_LOG' WHERE id = 15`) }, 15, "the rule of retention record 1001 keeps it"},
		{"ReceivedAt", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE events SET received_at = received_at + 86400000000000 WHERE id = 15`)
		}, 0, "do not match retention record 1001"},
		{"EventTime", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE events SET time_ns = time_ns - 1000 WHERE id = 15`)
		}, 0, "do not match retention record 1001"},
		{"Tenant", func(t *testing.T, s *Store) { mustExec(t, s, `UPDATE events SET tenant = 'other' WHERE id = 15`) }, 0, "do not match"},
		{"ContentHash", func(t *testing.T, s *Store) {
			var details string
			if err := s.wdb.QueryRow(`SELECT details FROM events WHERE id = 15`).Scan(&details); err != nil {
				t.Fatal(err)
			}
			var d struct {
				Redacted struct {
					ContentHash string `json:"content_hash"`
				} `json:"redacted"`
			}
			if err := json.Unmarshal([]byte(details), &d); err != nil || len(d.Redacted.ContentHash) < 8 {
				t.Fatalf("details %s: %v", details, err)
			}
			mustExec(t, s, `UPDATE events SET details = ? WHERE id = 15`, strings.Replace(details, d.Redacted.ContentHash[:8], "00000000", 1))
		}, 0, "do not match"},
		{"Message", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE events SET message = 'nothing here' WHERE id = 15`)
		}, 15, "not in the form retention redacts to"},
		{"RedactedKeptEventInSet", func(t *testing.T, s *Store) { redactByHand(t, s, 20, 1001) }, 20, "the rule of retention record 1001 keeps it"},
		{"RedactedAboveSet", func(t *testing.T, s *Store) { redactByHand(t, s, 700, 1001) }, 700, "no retention record in the chain covers it"},
		{"RedactedByNonRecord", func(t *testing.T, s *Store) { redactByHand(t, s, 990, 995) }, 990, "no retention record in the chain covers it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, p := retentionFixture(t)
			if _, err := s.ApplyRetention(ctx, p); err != nil {
				t.Fatal(err)
			}
			verifyOK(t, s)
			dropEventGuards(t, s)
			c.tamper(t, s)
			rep, err := s.VerifyChain(ctx, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got int64
			if rep.FirstBad != nil {
				got = *rep.FirstBad
			}
			if rep.OK || got != c.wantFirstBad || !strings.Contains(rep.Reason, c.wantReason) {
				t.Fatalf("report %+v (first bad %d), want failure naming %d mentioning %q", rep, got, c.wantFirstBad, c.wantReason)
			}
		})
	}
}

// TestRetentionCrashStaysVerifiable stops a run after its record, after
// part of the removal and after part of the redaction: verify passes in
// between, and the next run finishes the work.
func TestRetentionCrashStaysVerifiable(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		crashAfter int
	}{{"AfterRecord", 1}, {"DuringRemoval", 2}, {"DuringRedaction", 4}} {
		t.Run(c.name, func(t *testing.T) {
			s, p := retentionFixture(t)
			crashing := p
			crashing.crashAfter, crashing.ChunkSize = c.crashAfter, 5
			if _, err := s.ApplyRetention(ctx, crashing); !errors.Is(err, errCrash) {
				t.Fatalf("crashing run: %v", err)
			}
			verifyOK(t, s)
			res, err := s.ApplyRetention(ctx, p)
			if err != nil || res.RecordID != 1002 {
				t.Fatalf("next run: %+v %v", res, err)
			}
			rep := verifyOK(t, s)
			if rep.Redacted != 531 || rep.Pruned != 9 || rep.RetentionRecord != 1002 {
				t.Fatalf("after the next run: %+v", rep)
			}
		})
	}
}

// TestUpgradeAcknowledgesEarlierRetention opens a database where an
// earlier version's retention removed events from among kept AUDIT_LOG
// events, without records: on upgrade one event acknowledges what is gone,
// verify passes, and removals made after it are still caught.
func TestUpgradeAcknowledgesEarlierRetention(t *testing.T) {
	ctx := context.Background()
	// The schema as it was before retention records (migrations up to 0009).
	old := schemaBefore(t, 10)
	path := filepath.Join(t.TempDir(), "vigil.db")
	s, err := openWithSchema(ctx, path, old, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var evs []model.Event
	for i := 1; i <= 1000; i++ {
		e := ev(t, fmt.Sprintf(`{"message":"event %d"}`, i))
		if i%10 == 0 {
			e.Category = model.CategoryAuditLog
		}
		evs = append(evs, e)
	}
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// What the earlier retention left: events up to 256 gone (the chain
	// base), and the non-AUDIT_LOG events 257-400 gone with their hashes
	// kept.
	mustExec(t, s, `INSERT INTO retention_gate (open) VALUES (1);
		INSERT INTO chain_base (one, base_id, base_hash, updated_at) SELECT 1, id, hash, 'x' FROM events WHERE id = 256;
		INSERT INTO pruned_events (id, hash) SELECT id, hash FROM events WHERE id > 256 AND id <= 400 AND category <> 'AUDIT_LOG';
		DELETE FROM events WHERE id <= 256 OR (id <= 400 AND category <> 'AUDIT_LOG');
		DELETE FROM retention_gate`)
	s.Close()

	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rep := verifyOK(t, s)
	if rep.BaseID != 256 || rep.Pruned != 129 {
		t.Fatalf("after the upgrade: %+v", rep)
	}
	ack, err := s.EventByID(ctx, 1001, model.VisibilityFor(model.User{Role: model.RoleAdmin}))
	if err != nil || ack.Type != RetentionLegacyType || ack.Source != model.SourceInternal || !strings.Contains(string(ack.Details), `"removed_above_base":129`) {
		t.Fatalf("acknowledgement: %+v %v", ack, err)
	}
	// Opening again acknowledges nothing more.
	s.Close()
	if s, err = Open(ctx, path, Options{}); err != nil {
		t.Fatal(err)
	}
	if rep := verifyOK(t, s); rep.LastID != 1001 {
		t.Fatalf("second open appended: %+v", rep)
	}
	// Retention under records goes on from there.
	if res, err := s.ApplyRetention(ctx, RetentionPolicy{Cutoff: time.Now().Add(time.Hour), AuditCutoff: time.Now().Add(time.Hour)}); err != nil || res.LastID != 768 {
		t.Fatalf("retention after the upgrade: %+v %v", res, err)
	}
	verifyOK(t, s)

	// Further removals, and edits of what was acknowledged, are caught.
	for _, c := range []struct {
		name, sql string
		want      int64
	}{
		{"RemovedAfterUpgrade", `INSERT INTO retention_gate (open) VALUES (1);
			INSERT INTO pruned_events (id, hash) SELECT id, hash FROM events WHERE id = 950;
			DELETE FROM events WHERE id = 950; DELETE FROM retention_gate`, 950},
		{"RemovedAfterUpgradeAsLegacy", `INSERT INTO retention_gate (open) VALUES (1);
			INSERT INTO pruned_events (id, hash, legacy) SELECT id, hash, 1 FROM events WHERE id = 950;
			DELETE FROM events WHERE id = 950; DELETE FROM retention_gate`, 950},
		{"AcknowledgedHashChanged", `UPDATE pruned_events SET hash = zeroblob(32) WHERE id = 301`, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			copyPath := filepath.Join(t.TempDir(), "vigil.db")
			if err := s.Backup(ctx, copyPath); err != nil {
				t.Fatal(err)
			}
			cs, err := Open(ctx, copyPath, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			mustExec(t, cs, c.sql)
			rep, err := cs.VerifyChain(ctx, VerifyOptions{})
			var got int64
			if rep.FirstBad != nil {
				got = *rep.FirstBad
			}
			if err != nil || rep.OK || got != c.want {
				t.Fatalf("%+v %v, want failure naming %d", rep, err, c.want)
			}
			t.Log(rep.Reason)
		})
	}
}

// TestRetentionDropsWholePartitions: on PostgreSQL the writer attaches
// partitions of events ahead of its ids, and retention drops a partition
// whose every event it removes, the boundary one going chunk by chunk;
// when a read holds the table, the drop gives up and the rows go one by
// one. The chain verifies after each, and intake goes on.
func TestRetentionDropsWholePartitions(t *testing.T) {
	if !onPostgres() {
		t.Skip("PostgreSQL engine only: partitions of events")
	}
	ctx := context.Background()
	s := openTest(t)
	p := s.eng.partitions()
	if p.size != testPartitionIDs {
		t.Fatalf("partition size %d, want %d", p.size, testPartitionIDs)
	}
	base := time.Now().Add(-400 * 24 * time.Hour)
	var evs []model.Event
	for i := 1; i <= 4000; i++ {
		e := ev(t, fmt.Sprintf(`{"message":"parted %d","category":"USAGE"}`, i))
		e.ReceivedAt = base.Add(time.Duration(i) * time.Minute)
		evs = append(evs, e)
	}
	for i := 0; i < len(evs); i += 500 {
		if _, err := s.AppendEvents(ctx, evs[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	parts := func() []int64 {
		t.Helper()
		ks, err := p.list(ctx, s.rdb)
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	// Ids 1-4000 and half a partition ahead: partitions 0-4.
	if got := parts(); !slices.Equal(got, []int64{0, 1, 2, 3, 4}) {
		t.Fatalf("partitions after 4000 events: %v", got)
	}
	s.ix.waitFor(ctx, 4000)
	verify := func() {
		t.Helper()
		rep, err := s.VerifyChain(ctx, VerifyOptions{})
		if err != nil || !rep.OK {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	}
	cutoff := func(i int) RetentionPolicy {
		c := base.Add(time.Duration(i) * time.Minute)
		return RetentionPolicy{Cutoff: c, AuditCutoff: c}
	}

	// A read holds the table: partition 0 (ids 1-1024) is not dropped,
	// its events are removed one by one with the others up to 1499.
	reader, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := reader.QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil || n != 4000 {
		t.Fatalf("reader: %d %v", n, err)
	}
	res, err := s.ApplyRetention(ctx, cutoff(1500))
	reader.Rollback()
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 1499 || res.LastID != 1499 || res.BaseID != 1280 {
		t.Fatalf("retention behind a read: %+v", res)
	}
	if got := parts(); !slices.Equal(got, []int64{0, 1, 2, 3, 4}) {
		t.Fatalf("partitions after retention behind a read: %v", got)
	}
	verify()

	// Without it, partitions 0 (now empty), 1 and 2 are dropped and
	// partition 3 loses ids 3073-3499 chunk by chunk.
	res, err = s.ApplyRetention(ctx, cutoff(3500))
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 2000 || res.FirstID != 1500 || res.LastID != 3499 || res.BaseID != 3328 {
		t.Fatalf("retention dropping partitions: %+v", res)
	}
	if got := parts(); !slices.Equal(got, []int64{3, 4}) {
		t.Fatalf("partitions after retention: %v", got)
	}
	verify()
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	for _, id := range []int64{1, 2048, 3000, 3499} {
		if _, err := s.EventByID(ctx, id, admin); model.ErrorCode(err) != model.EGONE {
			t.Errorf("event %d after retention: %v, want EGONE", id, err)
		}
	}
	var docs int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM fts.events_fts WHERE rowid <= 3499`).Scan(&docs); err != nil || docs != 0 {
		t.Errorf("full-text documents of removed events: %d %v", docs, err)
	}
	// 500 kept events and the two records.
	if got := countSearch(t, s, "parted"); got != 501 {
		t.Errorf(`"parted" finds %d events, want 501`, got)
	}

	// Intake goes on into new partitions.
	appendN(t, s, 2000, 250)
	if got := parts(); !slices.Equal(got, []int64{3, 4, 5, 6}) {
		t.Fatalf("partitions after more intake: %v", got)
	}
	verify()
}
