package store

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/model"
)

// adminSees is what an admin may see: every event.
var adminSees = model.VisibilityFor(model.User{Role: model.RoleAdmin})

// TestRecordOutage: a storage outage is recorded once writes work again as
// an E_STORAGE_UNAVAILABLE event and one ERROR alert per outage.
func TestRecordOutage(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	since := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	o := Outage{Since: since, Until: since.Add(90 * time.Second), Err: "disk full", FailedBatches: 3}
	for i, wantCreated := range []bool{true, false} {
		a, created, err := s.RecordOutage(ctx, o)
		if err != nil || created != wantCreated || a.Type != "STORAGE_FAILED" || a.Severity != model.SeverityError ||
			!strings.Contains(a.Message, "for 1m30s no event could be written (disk full)") {
			t.Fatalf("record %d: created %v, alert %+v, err %v", i, created, a, err)
		}
	}
	found, err := s.FindEvents(ctx, model.EventFilter{Type: "E_STORAGE_UNAVAILABLE", Limit: 10, Visibility: adminSees})
	evs := found.Events
	if err != nil || len(evs) != 2 || evs[0].Actor.ID != "vigil" || !strings.Contains(string(evs[0].Details), `"failed_batches":3`) {
		t.Fatalf("events %+v, err %v", evs, err)
	}
}

// TestCheckRollback: a database behind the checkpoint kept beside it is
// reported and recorded; one that extends it, or no file, is fine.
func TestCheckRollback(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	latest := filepath.Join(dir, "checkpoint.latest")
	key, err := model.NewCheckpointKeyText("test/vigil/rollback")
	if err != nil {
		t.Fatal(err)
	}
	k, err := model.ParseCheckpointKey(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, filepath.Join(dir, "vigil.db"), Options{LatestCheckpointFile: latest, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CheckRollback(ctx, k.PublicKey()); err != nil {
		t.Fatalf("no checkpoint file: %v", err)
	}
	if _, err := s.AppendEvents(ctx, []model.Event{ev(t, `{"message":"one"}`), ev(t, `{"message":"two"}`)}); err != nil {
		t.Fatal(err)
	}
	cp, err := s.CreateCheckpoint(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckRollback(ctx, k.PublicKey()); err != nil {
		t.Fatalf("database extends its checkpoint: %v", err)
	}
	// A checkpoint of more events than the database holds: rolled back.
	cp.Size += 5
	note, err := k.Sign(cp.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(latest, []byte(note), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckRollback(ctx, k.PublicKey()); err == nil || !strings.Contains(err.Error(), "but the database holds") {
		t.Fatalf("rolled back database: %v", err)
	}
	found, err := s.FindEvents(ctx, model.EventFilter{Type: "E_ROLLBACK_DETECTED", Limit: 10, Visibility: adminSees})
	evs := found.Events
	if err != nil || len(evs) != 1 || evs[0].Severity != "crit" {
		t.Fatalf("rollback events %+v, err %v", evs, err)
	}
}
