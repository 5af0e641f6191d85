package checks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"vigil/model"
	"vigil/store"
)

// verifyChunk is how many ids the scheduled verification reads per read
// transaction; it rests between chunks (store.VerifyOptions.Chunk).
const verifyChunk = 20_000

// checkVerify verifies the whole log, chain, Merkle tree, checkpoints and
// their time-stamp tokens, in the background: in chunks with rests, so
// intake keeps its pace. A failure raises one INTEGRITY_FAILED (ERROR)
// alert per first bad id (or per failure naming none), kept open while it
// lasts; a verification that passes resolves them. Each run is recorded
// for the dashboard.
func (s *Scheduler) checkVerify(ctx context.Context, now time.Time) (Report, error) {
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-vctx.Done():
		}
	}()
	opts := store.VerifyOptions{Chunk: verifyChunk}
	if s.cfg.CheckpointKey != nil {
		opts.PublicKey = s.cfg.CheckpointKey.PublicKey()
	}
	rep, err := s.st.VerifyChain(vctx, opts)
	if vctx.Err() != nil || s.isStopping() {
		// Cut short, what it found says nothing of the log.
		return Report{}, errors.New("verification interrupted: Vigil is stopping")
	}
	if err != nil {
		return Report{}, err
	}
	ctx = context.WithoutCancel(ctx)
	run, err := s.st.RecordVerifyRun(ctx, store.VerifyRun{StartedAt: now, Finished: s.clock.Now(), ChainReport: rep})
	if err != nil {
		return Report{}, err
	}
	details := map[string]any{"ok": rep.OK, "checked": rep.Checked, "tree_size": rep.TreeSize, "verify_run": run.ID}
	if rep.RootHash != "" {
		details["root_hash"] = rep.RootHash
	}
	if rep.OK {
		resolved, err := s.resolveIntegrityAlerts(ctx)
		if err != nil {
			return Report{}, err
		}
		details["alerts_resolved"] = resolved
		return Report{Summary: fmt.Sprintf("the log verifies: %d events, tree of %d, %d checkpoints", rep.Checked, rep.TreeSize, rep.CheckpointsChecked),
			Details: details}, nil
	}
	details["reason"] = rep.Reason
	a := model.Alert{Severity: model.SeverityError, Type: model.AlertIntegrityFailed,
		Title:   "The event log failed verification",
		Message: fmt.Sprintf("The scheduled verification found: %s. Run vigil verify, and compare with a checkpoint kept off the box.", rep.Reason),
		Entity:  model.Entity{Type: "CHECK", ID: CheckVerify}, Key: model.AlertIntegrityFailed + ":tree"}
	if rep.FirstBad != nil {
		id := strconv.FormatInt(*rep.FirstBad, 10)
		details["first_bad"] = *rep.FirstBad
		a.Title = "The event log failed verification at event " + id
		a.Entity, a.Key = model.Entity{Type: "EVENT", ID: id}, model.AlertIntegrityFailed+":"+id
	}
	if _, err := s.raise(ctx, a); err != nil {
		return Report{Details: details}, err
	}
	if rep.FirstBad != nil {
		return Report{Details: details}, fmt.Errorf("the log failed verification at event %d: %s", *rep.FirstBad, rep.Reason)
	}
	return Report{Details: details}, fmt.Errorf("the log failed verification: %s", rep.Reason)
}

// resolveIntegrityAlerts resolves every open INTEGRITY_FAILED alert and
// returns how many there were.
func (s *Scheduler) resolveIntegrityAlerts(ctx context.Context) (int, error) {
	open, err := s.st.OpenAlertsOfType(ctx, model.AlertIntegrityFailed)
	if err != nil {
		return 0, err
	}
	for _, a := range open {
		if _, err := s.st.ResolveAlert(ctx, a.Key); err != nil {
			return 0, err
		}
		s.log.Info("alert resolved", "job", CheckVerify, "key", a.Key)
	}
	return len(open), nil
}

// isStopping reports whether Stop was called: the cancel that Stop causes
// runs in its own goroutine, and a short walk may end before it.
func (s *Scheduler) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}
