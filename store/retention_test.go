package store

import (
	"context"
	"encoding/hex"
	"fmt"
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

	// AUDIT_LOG kept longer: the others go, leaving their hashes.
	res, err := s.ApplyRetention(ctx, RetentionPolicy{Cutoff: now.Add(-400 * 24 * time.Hour), AuditCutoff: now.Add(-1000 * 24 * time.Hour), ChunkSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 1080 || res.FirstID != 1 || res.LastID != 1199 || res.BaseID != 0 {
		t.Fatalf("first retention: %+v", res)
	}
	verify(920, 1080, 0)
	if _, err := s.EventByID(ctx, 5, model.VisibilityFor(model.User{Role: model.RoleAdmin})); model.ErrorCode(err) != model.ENOTFOUND {
		t.Errorf("removed event still readable: %v", err)
	}
	if n := countSearch(t, s, "event"); n != 920 {
		t.Errorf("full text still finds %d events, want 920", n)
	}

	// Then the old AUDIT_LOG events go too: the base moves past whole blocks.
	res, err = s.ApplyRetention(ctx, RetentionPolicy{Cutoff: now.Add(-400 * 24 * time.Hour), AuditCutoff: now.Add(-400 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 120 || res.BaseID != 1024 {
		t.Fatalf("second retention: %+v", res)
	}
	verify(800, 1200-1024, 1024)

	// Intake goes on; the tree still proves kept events.
	appendN(t, s, 300, 100)
	verify(1100, 1200-1024, 1024)
	head, err := s.TreeHead(ctx)
	if err != nil || head.Size != 2300 {
		t.Fatalf("tree head %+v %v", head, err)
	}
	for _, id := range []int64{1201, 1500, 2300} {
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
	mustExec(t, s, `UPDATE pruned_events SET hash = zeroblob(32) WHERE id = 1100`)
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
