package main

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/model"
	"vigil/store"
)

// TestVerifyAfterRetention keeps AUDIT_LOG events longer than the others
// (--retention 400d --retention-audit 2555d): the oldest events are
// removed, the later ones redacted, and vigil verify stays green; a
// redacted event changed afterwards makes it fail.
func TestVerifyAfterRetention(t *testing.T) {
	dir := t.TempDir()
	retainedDataDir(t, dir)
	verifyThenTamper(t, inProcessVerify(t), dir, "351 events redacted, as retention record 601 states",
		`DROP TRIGGER events_no_update; UPDATE events SET category = 'AUTH' WHERE id = 11`, "do not match retention record 601")
}

// retainedDataDir fills dir with 600 events, the first 400 received 500
// days ago (every tenth one AUDIT_LOG), and applies retention of 400 days
// (AUDIT_LOG: 2555 days): events 1-9 are removed and 351 are redacted
// under retention record 601.
func retainedDataDir(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	st, err := openStore(ctx, location{DataDir: dir}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var evs []model.Event
	for i := 1; i <= 600; i++ {
		e := model.Event{Message: fmt.Sprintf("event %d", i), Source: model.SourceHTTP}
		if i%10 == 0 {
			e.Category = model.CategoryAuditLog
		}
		received := now
		if i <= 400 {
			received = now.Add(-500 * 24 * time.Hour)
		}
		if err := e.Normalize(received); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if _, err := st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	res, err := st.ApplyRetention(ctx, store.RetentionPolicy{Cutoff: now.Add(-400 * 24 * time.Hour), AuditCutoff: now.Add(-2555 * 24 * time.Hour)})
	if err != nil || res.Removed != 9 || res.Redacted != 400-40-9 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	st.Close()
}

// TestVerifyAfterRetentionRulesAndHolds applies rules by category and
// tenant and a legal hold, then runs vigil verify: green; an event under
// the hold made to look redacted makes it fail naming that event.
func TestVerifyAfterRetentionRulesAndHolds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := openStore(ctx, location{DataDir: dir}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var evs []model.Event
	for i := 1; i <= 600; i++ {
		e := model.Event{Message: fmt.Sprintf("event %d", i), Source: model.SourceHTTP,
			Category: []string{model.CategoryUsage, model.CategoryAccessControl, model.CategoryAuditLog}[i%3], Tenant: []string{"acme", "beta"}[i%2]}
		if err := e.Normalize(now.Add(-120 * 24 * time.Hour)); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if _, err := st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	p := store.PolicyAt(now, []model.RetentionRule{
		{Keep: 365 * day}, {Category: model.CategoryAuditLog, Keep: 2555 * day},
		{Category: model.CategoryAccessControl, Keep: 90 * day}, {Tenant: "acme", Keep: 30 * day},
	}, []model.LegalHold{{ID: 1, Tenant: "beta", Reason: "case 7"}})
	res, err := st.ApplyRetention(ctx, p)
	// Ids 1-512 (the newest block is kept): acme's events (even ids) go,
	// but for its AUDIT_LOG ones (ids 2, 8, 14, …: 86 of them), which the
	// AUDIT_LOG rule keeps longer; beta's are held; event 1 is beta's, so
	// nothing is removed.
	if err != nil || res.Removed != 0 || res.Redacted != 256-86 || res.RecordID != 601 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	st.Close()
	// Then event 4 (acme's ACCESS_CONTROL, redacted) is moved under the
	// hold on beta; the built binary verifies.
	verifyThenTamper(t, binaryVerify(t), dir, "170 events redacted, as retention record 601 states",
		`DROP TRIGGER events_no_update; UPDATE events SET tenant = 'beta' WHERE id = 4`,
		"event 4 is redacted but a legal hold that retention record 601 states keeps it")
}

// verifier runs vigil verify on a data directory: its exit code and output.
type verifier func(dir string) (int, string)

// inProcessVerify runs the command in this process.
func inProcessVerify(t *testing.T) verifier {
	return func(dir string) (int, string) {
		code, out, _ := vigil(t, "", "verify", "--data", dir)
		return code, out
	}
}

// binaryVerify runs the built vigil binary.
func binaryVerify(t *testing.T) verifier {
	bin := vigilBinary(t)
	return func(dir string) (int, string) {
		cmd := exec.Command(bin, "verify", "--data", dir)
		out, err := cmd.Output()
		if cmd.ProcessState == nil {
			t.Fatalf("vigil verify: %v", err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
}

// verifyThenTamper runs vigil verify on data directory dir, which must pass
// saying ok; then runs statements on its database, as someone with the file
// could, after which verify must fail saying bad.
func verifyThenTamper(t *testing.T, verify verifier, dir, ok, statements, bad string) {
	t.Helper()
	if code, out := verify(dir); code != 0 || !strings.Contains(out, ok) {
		t.Fatalf("verify after retention: %d %s", code, out)
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(statements); err != nil {
		t.Fatal(err)
	}
	if code, out := verify(dir); code != 1 || !strings.Contains(out, bad) {
		t.Fatalf("verify after %s: %d %s", statements, code, out)
	}
}
