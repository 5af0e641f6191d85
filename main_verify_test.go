package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"vigil/model"
)

// dashboard signs in as user and returns the dashboard's HTML.
func (r *watchRig) dashboard(user, password string) string {
	r.t.Helper()
	return consolePage(r.t, r.url, user, password, "/")
}

// consolePage signs in to the console at base as user and returns the
// HTML of page.
func consolePage(t *testing.T, base, user, password, page string) string {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(base+"/login", url.Values{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, base+page, nil)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", page, resp.StatusCode, b)
	}
	return string(b)
}

// TestScheduledVerify runs the scheduled verification on a real store:
// intact, the dashboard shows it verified; after a row is edited behind
// Vigil's back, the run fails, one INTEGRITY_FAILED alert names the first
// bad id (a second failing run raises no other), and the dashboard shows
// the failure; once the row is put back the next run resolves the alert.
// Every run is a SCHEDULER_RUN event of the scheduler.
func TestScheduledVerify(t *testing.T) {
	r := newWatchRig(t, 0)
	var body strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&body, `{"type":"CERT_USED","message":"use %d"}`+"\n", i)
	}
	r.must(202, "POST", "/api/v1/events", r.tokens["agent"], body.String(), nil)

	rep := r.run("verify")
	if rep.Details["ok"] != true || rep.Details["checked"].(int64) < 300 {
		t.Fatalf("verify of an intact log: %+v", rep)
	}
	if page := r.dashboard("boss", "correct horse battery"); !strings.Contains(page, "Log verified") || !strings.Contains(page, ">OK<") {
		t.Fatalf("the dashboard does not show the log verified:\n%s", page)
	}

	db, err := sql.Open("sqlite3", r.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var original string
	if err := db.QueryRow(`SELECT message FROM events WHERE id = 123`).Scan(&original); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER events_no_update`, `UPDATE events SET message = 'nothing happened' WHERE id = 123`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i := 0; i < 2; i++ {
		_, err := r.sched.RunCheck(context.Background(), "verify")
		if err == nil || !strings.Contains(err.Error(), "event 123") {
			t.Fatalf("verify of an edited log: %v", err)
		}
	}
	alerts := r.alerts("type=INTEGRITY_FAILED", model.AlertIntegrityFailed)
	if len(alerts) != 1 || alerts[0].Severity != model.SeverityError || !alerts[0].Open() ||
		alerts[0].Entity.ID != "123" || !strings.Contains(alerts[0].Message, "123") {
		t.Fatalf("INTEGRITY_FAILED alerts: %+v", alerts)
	}
	page := r.dashboard("boss", "correct horse battery")
	if !strings.Contains(page, "Log verified") || !strings.Contains(page, ">FAILED<") || !strings.Contains(page, "first bad id 123") {
		t.Fatalf("the dashboard does not show the failure:\n%s", page)
	}
	// Put back, the log verifies again and the alert is resolved.
	if _, err := db.Exec(`UPDATE events SET message = ? WHERE id = 123`, original); err != nil {
		t.Fatal(err)
	}
	if rep := r.run("verify"); rep.Details["ok"] != true || rep.Details["alerts_resolved"] != 1 {
		t.Fatalf("verify once put back: %+v", rep)
	}
	if a := r.alerts("type=INTEGRITY_FAILED&open=1", model.AlertIntegrityFailed); len(a) != 0 {
		t.Fatalf("INTEGRITY_FAILED still open: %+v", a)
	}
	runs := r.events("type=SCHEDULER_RUN&category=AUDIT_LOG")
	n := 0
	for _, e := range runs {
		if e.Entity.ID == "verify" && e.Actor.Type == "SYSTEM" {
			n++
		}
	}
	if n != 4 {
		t.Fatalf("%d verify runs recorded, want 4: %+v", n, runs)
	}
}
