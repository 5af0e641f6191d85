package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"vigil/model"
)

// TestMarkShownReadInBrowser marks alerts read from a filtered Alerts
// view: only the alerts the view selects are marked, the page says how
// many, and the audit event names the filter.
func TestMarkShownReadInBrowser(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	for i, a := range []model.Alert{
		{Severity: model.SeverityError, Type: model.AlertAgentOffline, Title: "Agent a is offline", Key: "a", Entity: model.Entity{Type: "AGENT", ID: "a"}},
		{Severity: model.SeverityWarn, Type: model.AlertAgentOffline, Title: "Agent b is offline", Key: "b", Entity: model.Entity{Type: "AGENT", ID: "b"}},
		{Severity: model.SeverityWarn, Type: model.AlertAgentOffline, Title: "Agent c is offline", Key: "c", Entity: model.Entity{Type: "AGENT", ID: "c"}},
	} {
		if _, _, err := env.st.RaiseAlert(ctx, a); err != nil {
			t.Fatal(i, err)
		}
	}
	b := newBrowser(t)
	u := env.url
	b.do(t, 15*time.Second, signIn(u, "admin", password("admin")), chromedp.WaitVisible(chromedp.CSS("header.top .user")),
		chromedp.Navigate(u+"/alerts?severity=WARN"), chromedp.WaitVisible(chromedp.ID("read-all")),
		leaving, chromedp.Click(chromedp.ID("read-all")),
		until(loaded), chromedp.WaitVisible(chromedp.ID("alerts")))
	if n, err := env.st.CountUnreadAlerts(ctx); err != nil || n != 1 {
		t.Errorf("after marking the WARN view read %d alerts are unread (%v), want the ERROR one", n, err)
	}
	flash := get(t, b, 5*time.Second, chromedp.Evaluate[string](`(document.querySelector('.flash')||{}).textContent || ''`))
	if !strings.Contains(flash, "2 alerts marked read") {
		t.Errorf("the page says %q, want how many were marked", flash)
	}
	b.screenshot(t, "alerts-marked")
	var details string
	db, err := openSQL(env.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT details FROM events WHERE type = 'ALERTS_READ'`).Scan(&details); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(details, "severity=WARN") || !strings.Contains(details, `"count":2`) {
		t.Errorf("audit details %s, want the filter and the count", details)
	}
}
