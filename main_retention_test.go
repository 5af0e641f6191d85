package main

import (
	"context"
	"database/sql"
	"fmt"
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
	code, out, _ := vigil(t, "", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "351 events redacted, as retention record 601 states") {
		t.Fatalf("verify after retention: %d %s", code, out)
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TRIGGER events_no_update; UPDATE events SET category = 'AUTH' WHERE id = 11`); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := vigil(t, "", "verify", "--data", dir); code != 1 || !strings.Contains(out, "do not match retention record 601") {
		t.Fatalf("verify after changing a redacted event: %d %s", code, out)
	}
}

// retainedDataDir fills dir with 600 events, the first 400 received 500
// days ago (every tenth one AUDIT_LOG), and applies retention of 400 days
// (AUDIT_LOG: 2555 days): events 1-9 are removed and 351 are redacted
// under retention record 601.
func retainedDataDir(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	st, err := openStore(ctx, dir, store.Options{})
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
