package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"vigil/model"
)

// CheckRollback compares the database with the newest checkpoint kept
// beside it (Options.LatestCheckpointFile), whose signature publicKey
// verifies. A database that no longer extends it (an older backup was
// restored, events were cut or rewritten) is logged loudly and recorded
// as an E_ROLLBACK_DETECTED event, and the problem is returned; nil means
// there is no such file or the database extends it. Vigil still starts
// either way, so intake is not lost.
func (s *Store) CheckRollback(ctx context.Context, publicKey string) error {
	if s.latestFile == "" {
		return nil
	}
	note, err := os.ReadFile(s.latestFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var problem error
	if err != nil {
		problem = err
	} else if cp, err := model.OpenCheckpoint(note, publicKey); err != nil {
		problem = fmt.Errorf("%s: %w", filepath.Base(s.latestFile), err)
	} else {
		problem = s.CheckExtends(ctx, cp)
	}
	if problem == nil {
		return nil
	}
	s.log.Error("DATABASE DOES NOT EXTEND ITS LATEST CHECKPOINT", "err", problem)
	e, err := model.NewSystemEvent(time.Now(), "E_ROLLBACK_DETECTED", "FAILURE", "crit", "The database does not extend its latest checkpoint: "+problem.Error(), nil)
	if err == nil {
		if _, err := s.AppendEvents(ctx, []model.Event{e}); err != nil {
			s.log.Error("recording rollback", "err", err)
		}
	}
	return problem
}

// RecordOutage records, once writes succeed again, that they failed: an
// E_STORAGE_UNAVAILABLE event and an ERROR alert, which it returns with
// whether it is new (for the webhook).
func (s *Store) RecordOutage(ctx context.Context, o Outage) (model.Alert, bool, error) {
	took := o.Until.Sub(o.Since).Round(time.Second)
	details := map[string]any{
		"since": o.Since.UTC().Format(time.RFC3339Nano), "until": o.Until.UTC().Format(time.RFC3339Nano),
		"failed_batches": o.FailedBatches, "error": o.Err,
	}
	// The alert goes first: whoever sees the event also finds the alert.
	a, created, err := s.RaiseAlert(ctx, model.Alert{
		Severity: model.SeverityError, Type: "STORAGE_FAILED",
		Title: "Events could not be stored",
		Message: fmt.Sprintf("From %s for %s no event could be written (%s); intake paused and resumed by itself. Senders without retries may have lost events in that time.",
			o.Since.UTC().Format(time.RFC3339), took, o.Err),
		Entity: model.Entity{Type: "STORAGE", ID: "events"},
		Key:    "storage-failed:" + o.Since.UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		err = fmt.Errorf("store: raise storage alert: %w", err)
	}
	e, eventErr := model.NewSystemEvent(time.Now(), "E_STORAGE_UNAVAILABLE", "FAILURE", "err", fmt.Sprintf("Events could not be written for %s: %s", took, o.Err), details)
	if eventErr == nil {
		if _, eventErr = s.AppendEvents(ctx, []model.Event{e}); eventErr != nil {
			s.log.Error("recording storage outage", "err", eventErr)
		}
	}
	return a, created && err == nil, err
}
