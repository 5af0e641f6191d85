package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"vigil/model"
)

// TestConsoleAlertThresholds: an operator sets and clears a certificate's
// and an endpoint's alert thresholds from their pages; the pages show
// which thresholds apply and where they come from; a viewer sees them but
// gets no form and 403 on the change; a bad value is shown on the page
// and changes nothing. Alert rows show a held delivery and the reminders.
func TestConsoleAlertThresholds(t *testing.T) {
	env := newTestEnv(t)
	seedWatch(t, env) // certificate 1 in 5 days, expected by endpoint 1
	ctx := context.Background()
	ops, viewer := env.session(model.RoleOperator), env.session(model.RoleViewer)
	post := func(cookie, path, days string) *http.Response {
		t.Helper()
		return env.do("POST", path, cookie, url.Values{"days": {days}, "back": {strings.TrimSuffix(path, "/expiry-days")}}.Encode(), nil)
	}
	page := func(cookie, path string) string {
		t.Helper()
		resp := env.do("GET", path, cookie, "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return readBody(t, resp)
	}

	if body := page(ops, "/certificates/1"); !strings.Contains(body, "30, 14, 7, 1 days before expiry") || !strings.Contains(body, "the default") ||
		!strings.Contains(body, `action="/certificates/1/expiry-days"`) {
		t.Errorf("certificate page before any setting lacks the default thresholds or the form")
	}
	if resp := post(ops, "/endpoints/1/expiry-days", "45, 20"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("endpoint form: %d", resp.StatusCode)
	}
	if body := page(viewer, "/certificates/1"); !strings.Contains(body, "45, 20 days before expiry") || !strings.Contains(body, "from endpoint 1") ||
		strings.Contains(body, `action="/certificates/1/expiry-days"`) {
		t.Errorf("viewer's certificate page after the endpoint's setting: wrong thresholds, or a form")
	}
	if resp := post(ops, "/certificates/1/expiry-days", "60"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "done=thresholds") {
		t.Fatalf("certificate form: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if body := page(ops, "/certificates/1?done=thresholds"); !strings.Contains(body, "60 days before expiry") || !strings.Contains(body, "its own") ||
		!strings.Contains(body, "Alert thresholds saved") {
		t.Errorf("certificate page after its own setting")
	}
	resp := post(ops, "/certificates/1/expiry-days", "60,x")
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `&#34;x&#34; is not a number of days`) {
		t.Errorf("bad value: %d", resp.StatusCode)
	}
	if resp := post(viewer, "/certificates/1/expiry-days", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer's change: %d, want 403", resp.StatusCode)
	}
	if resp := post(viewer, "/endpoints/1/expiry-days", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer's endpoint change: %d, want 403", resp.StatusCode)
	}
	c, err := env.st.CertificateByID(ctx, 1)
	if err != nil || fmt.Sprint(c.ExpiryDays) != "[60]" {
		t.Errorf("stored thresholds %v %v, want [60]", c.ExpiryDays, err)
	}
	if resp := post(ops, "/certificates/1/expiry-days", ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("clearing: %d", resp.StatusCode)
	}
	if body := page(ops, "/endpoints/1"); !strings.Contains(body, "45, 20 days before expiry") {
		t.Errorf("endpoint page lacks its thresholds")
	}
	if body := page(ops, "/certificates/1"); !strings.Contains(body, "from endpoint 1") {
		t.Errorf("cleared certificate does not fall back to its endpoint's thresholds")
	}

	// A held alert and one reminded of twice, as their rows show them.
	held, _, err := env.st.RaiseAlert(ctx, model.Alert{Severity: model.SeverityWarn, Type: model.AlertExpiringSoon, Title: "held one",
		Key: "held", Entity: model.CertificateEntity(1), Delivery: model.Delivery{HeldForJob: 7}})
	if err != nil || held.Delivery.Status != model.DeliveryHeld {
		t.Fatalf("held alert: %+v %v", held.Delivery, err)
	}
	as, _, _ := env.st.FindAlerts(ctx, model.AlertFilter{Type: model.AlertExpired})
	at := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	for range 2 {
		if _, err := env.st.MarkReminded(ctx, as[0].ID, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{"/alerts", "/certificates/1"} {
		body := page(viewer, path)
		if !strings.Contains(body, `held for <a href="/jobs/7">job 7</a>`) {
			t.Errorf("%s does not show the held alert", path)
		}
		if path == "/alerts" && !strings.Contains(body, "reminded 2×, last 2026-05-04 03:02:01 UTC") {
			t.Errorf("%s does not show the reminders", path)
		}
	}
}
