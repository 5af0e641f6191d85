package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"vigil/model"
	"vigil/store"
)

// exportBundle fetches a bundle over HTTP and writes it into dir as name.
func exportBundle(t *testing.T, url, token, query, dir, name string) (string, store.Bundle) {
	t.Helper()
	code, body := request(t, "GET", url+"/api/v1/events/export?format=bundle"+query, token, "")
	if code != 200 {
		t.Fatalf("bundle export%s: %d %s", query, code, body)
	}
	var b store.Bundle
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("bundle is not JSON: %v\n%.500s", err, body)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// writeBundle writes b into dir as name.
func writeBundle(t *testing.T, b store.Bundle, dir, name string) string {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// publicKey returns the verifier key of the checkpoints, as the API shows
// it to an auditor.
func publicKey(t *testing.T, url, token string) string {
	t.Helper()
	code, body := request(t, "GET", url+"/api/v1/audit/checkpoint", token, "")
	var cp struct {
		PublicKey string `json:"public_key"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &cp) != nil || cp.PublicKey == "" {
		t.Fatalf("checkpoint: %d %s", code, body)
	}
	return cp.PublicKey
}

// TestExportBundleVerifiesOffTheBox exports a bundle from a running
// appliance, deletes its data directory, and verifies the copy with the
// verifier key alone; then checks that tampered bundles and bundles of
// another log are refused, naming what is wrong.
func TestExportBundleVerifiesOffTheBox(t *testing.T) {
	dir := t.TempDir()
	away := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	url, stop, manage, _ := serveWith40Events(t, dir)
	copyPath, b := exportBundle(t, url, manage, "", away, "export.bundle.json")
	if b.Format != "vigil-bundle/1" || !b.Contiguous || b.Count != len(b.Events) || b.Count < 40 ||
		b.FirstID != 1 || b.LastID != b.Events[len(b.Events)-1].ID {
		t.Fatalf("bundle: format %q contiguous %v count %d first %d last %d", b.Format, b.Contiguous, b.Count, b.FirstID, b.LastID)
	}
	pagePath, pg := exportBundle(t, url, manage, "&scope=page&limit=5", away, "page.bundle.json")
	if pg.Scope != "page" || pg.Count != 5 || !pg.Contiguous || pg.LastID-pg.FirstID != 4 {
		t.Fatalf("page bundle: scope %q count %d contiguous %v %d-%d", pg.Scope, pg.Count, pg.Contiguous, pg.FirstID, pg.LastID)
	}
	key := publicKey(t, url, manage)
	keyFile := filepath.Join(away, "vigil.pub")
	os.WriteFile(keyFile, []byte(key+"\n"), 0o600)

	// A second appliance, with its own key.
	otherDir := t.TempDir()
	otherURL, otherStop, otherManage, _ := serveWith40Events(t, otherDir)
	_, other := exportBundle(t, otherURL, otherManage, "", away, "other.bundle.json")

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := otherStop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{keyFile, key} {
		code, out, errOut := vigil(t, "", "verify-export", copyPath, "--key", k)
		t.Logf("verify-export --key %s:\n%s", k, out)
		if code != 0 || !strings.Contains(out, "events proven") || !strings.Contains(out, "contiguous: every event from 1 to") {
			t.Fatalf("verify-export --key %s: %d %s %s", k, code, out, errOut)
		}
	}

	if code, out, _ := vigil(t, "", "verify-export", pagePath, "--key", keyFile); code != 0 || !strings.Contains(out, "5 events proven") {
		t.Fatalf("verify-export of a page: %d %s", code, out)
	}
	if _, out, _ := vigil(t, "", "verify-export", copyPath, "--key", keyFile); !strings.Contains(out, "the range ends at the checkpoint's last event") {
		t.Fatalf("verify-export of the whole log does not say it reaches the checkpoint:\n%s", out)
	}
	// Cut short at the end, with its range and count made to agree, the
	// bundle still verifies, and says which events of the log it lacks.
	var cut store.Bundle
	data, _ := json.Marshal(b)
	json.Unmarshal(data, &cut)
	cut.Events, cut.Count, cut.LastID = cut.Events[:len(cut.Events)-3], cut.Count-3, cut.Events[len(cut.Events)-4].ID
	code, out, _ := vigil(t, "", "verify-export", writeBundle(t, cut, away, "cut.bundle.json"), "--key", keyFile)
	if wantNote := fmt.Sprintf("events %d to %d are not in this bundle", cut.LastID+1, b.LastID); code != 0 || !strings.Contains(out, wantNote) {
		t.Fatalf("verify-export of a bundle cut short: %d %s, want a note %q", code, out, wantNote)
	}

	mid := len(b.Events) / 2
	midID := b.Events[mid].ID
	tampered := func(change func(b *store.Bundle)) store.Bundle {
		var c store.Bundle
		data, _ := json.Marshal(b)
		json.Unmarshal(data, &c)
		change(&c)
		return c
	}
	cases := []struct {
		name   string
		bundle store.Bundle
		want   string
	}{
		{"FieldChanged", tampered(func(c *store.Bundle) { c.Events[mid].Event.Message += " (edited)" }),
			"event " + itoa(midID) + " was changed"},
		{"MovedToAnotherID", tampered(func(c *store.Bundle) { c.Events[mid].Event.ID++ }),
			"event " + itoa(midID) + " was changed: its content says it is event " + itoa(midID+1)},
		{"EventRemoved", tampered(func(c *store.Bundle) {
			c.Events = append(c.Events[:mid], c.Events[mid+1:]...)
			c.Count--
		}), "event " + itoa(midID) + " is missing from the contiguous range"},
		{"EventRemovedCountKept", tampered(func(c *store.Bundle) {
			c.Events = append(c.Events[:mid], c.Events[mid+1:]...)
		}), "events were added or removed"},
		{"OtherLog", other, "not one this key signed"},
		{"OtherLogsProofs", func() store.Bundle {
			c := other
			c.Checkpoint = b.Checkpoint
			return c
		}(), "inclusion proof does not lead to the checkpoint's root"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeBundle(t, c.bundle, away, c.name+".bundle.json")
			code, out, _ := vigil(t, "", "verify-export", p, "--key", keyFile)
			t.Logf("%s", out)
			if code != 1 || !strings.Contains(out, "FAILED") || !strings.Contains(out, c.want) {
				t.Fatalf("verify-export of a bundle with %s: %d %s, want FAILED naming %q", c.name, code, out, c.want)
			}
		})
	}
}

// TestExportBundleRolesAndAudit: a viewer's bundle holds only what a
// viewer may see and says it is not contiguous, a viewer asking for
// AUDIT_LOG events is refused as for CSV, and each bundle export is in
// the audit trail with format=bundle.
func TestExportBundleRolesAndAudit(t *testing.T) {
	dir := t.TempDir()
	away := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	t.Setenv("VIGIL_PASSWORD", "viewer-password-1")
	url, stop, manage, _ := serveWith40Events(t, dir)
	defer stop()
	if code, _, errOut := vigil(t, "", "user", "add", "vera", "--data", dir, "--role", "viewer"); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	_, read, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "vera", "--name", "r", "--scope", "read")
	read = strings.TrimSpace(read)

	_, all := exportBundle(t, url, manage, "", away, "admin.bundle.json")
	if n := countCategory(all, model.CategoryAuditLog); n == 0 {
		t.Fatal("the admin's bundle holds no AUDIT_LOG event to hide from a viewer")
	}
	if code, body := request(t, "GET", url+"/api/v1/events/export?format=bundle&category=AUDIT_LOG", read, ""); code != 403 {
		t.Fatalf("viewer asking for AUDIT_LOG in a bundle: %d %s", code, body)
	}
	p, mine := exportBundle(t, url, read, "", away, "viewer.bundle.json")
	if n := countCategory(mine, model.CategoryAuditLog); n != 0 || mine.Count == 0 || mine.Contiguous {
		t.Fatalf("viewer's bundle: %d AUDIT_LOG events of %d, contiguous %v", n, mine.Count, mine.Contiguous)
	}
	code, out, _ := vigil(t, "", "verify-export", p, "--key", publicKey(t, url, manage))
	if code != 0 || !strings.Contains(out, "not contiguous") {
		t.Fatalf("verify-export of the viewer's bundle: %d %s", code, out)
	}

	code, body := request(t, "GET", url+"/api/v1/events?type=E_REPORT_GENERATED&limit=10", manage, "")
	var page struct{ Events []model.Event }
	if code != 200 || json.Unmarshal([]byte(body), &page) != nil {
		t.Fatalf("report events: %d %s", code, body)
	}
	var found []string
	for _, e := range page.Events {
		var d map[string]any
		json.Unmarshal(e.Details, &d)
		if d["format"] == "bundle" {
			found = append(found, d["username"].(string))
		}
	}
	if len(found) != 2 || found[0] != "vera" || found[1] != "admin" {
		t.Fatalf("bundle exports recorded for %v, want vera's and admin's: %s", found, body)
	}
}

func countCategory(b store.Bundle, category string) int {
	n := 0
	for _, ev := range b.Events {
		if ev.Event != nil && ev.Event.Category == category || ev.Redacted != nil && ev.Redacted.Category == category {
			n++
		}
	}
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestExportBundleAfterRetention: events removed by retention are not in
// a bundle of every event, which starts after them and is still
// contiguous; redacted events are in it as their commitment and verify as
// such, and a changed commitment hash does not.
func TestExportBundleAfterRetention(t *testing.T) {
	dir := t.TempDir()
	away := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	retainedDataDir(t, dir)

	url, stop := serve(t, dir)
	defer stop()
	_, manage, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "m", "--scope", "manage")
	manage = strings.TrimSpace(manage)
	p, b := exportBundle(t, url, manage, "", away, "retained.bundle.json")
	// Event 10 (AUDIT_LOG) is kept, 11 is redacted.
	if !b.Contiguous || b.FirstID != 10 || b.Events[0].Event == nil || b.Events[1].Redacted == nil || b.Events[1].Event != nil {
		t.Fatalf("bundle after retention: contiguous %v, first %d, first events %+v", b.Contiguous, b.FirstID, b.Events[:2])
	}
	key := publicKey(t, url, manage)
	code, out, _ := vigil(t, "", "verify-export", p, "--key", key)
	if code != 0 || !strings.Contains(out, "351 redacted by retention") || !strings.Contains(out, "every event from 10 to") {
		t.Fatalf("verify-export after retention: %d %s", code, out)
	}
	b.Events[1].Hash = strings.Repeat("00", 32)
	code, out, _ = vigil(t, "", "verify-export", writeBundle(t, b, away, "changed.bundle.json"), "--key", key)
	if code != 1 || !strings.Contains(out, "event 11: its inclusion proof does not lead") {
		t.Fatalf("verify-export of a changed commitment: %d %s", code, out)
	}
}
