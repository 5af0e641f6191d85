package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"vigil/internal/testpki"
	"vigil/model"
)

// seedWatch stores what the watch pages show: certificates expiring in 5
// days, in 90 days and expired, an endpoint, alerts of each severity, a
// failed, a long-running and a queued job, and two agents, one of them
// silent for an hour.
func seedWatch(t *testing.T, env *testEnv) (soonID int64) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	ca := testpki.NewCA(t)
	var certs []model.Certificate
	for _, c := range []struct {
		cn          string
		from, until time.Duration
	}{
		{"www.example.test", -80 * 24 * time.Hour, 5 * 24 * time.Hour},
		{"api.example.test", -time.Hour, 90 * 24 * time.Hour},
		{"old.example.test", -100 * 24 * time.Hour, -2 * 24 * time.Hour},
	} {
		certs = append(certs, model.CertificateFromX509(ca.Issue(t, c.cn, []string{c.cn}, now.Add(c.from), now.Add(c.until)).X509))
	}
	added, err := env.st.AddCertificates(ctx, certs, model.CertSourceUpload, model.UserActor("admin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.st.AddEndpoint(ctx, model.Endpoint{Host: "10.0.4.12", Port: 443, ServerName: "www.example.test", ExpectedFingerprint: certs[0].Fingerprint}, model.UserActor("admin")); err != nil {
		t.Fatal(err)
	}
	for _, a := range []model.Alert{
		{Severity: model.SeverityWarn, Type: model.AlertExpiringSoon, Title: "Certificate www.example.test expires within 7 days", Message: "Renew it.", Key: "s1", Entity: model.Entity{Type: "CERTIFICATE", ID: "1"}},
		{Severity: model.SeverityError, Type: model.AlertExpired, Title: "Certificate old.example.test has expired", Message: "Expired 2 days ago.", Key: "s2", Entity: model.Entity{Type: "CERTIFICATE", ID: "3"}},
		{Severity: model.SeverityInfo, Type: "NOTICE", Title: "Inventory imported", Key: "s3"},
	} {
		if _, _, err := env.st.RaiseAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	started := now.Add(-time.Hour)
	for _, j := range []model.Job{
		{Type: model.JobCARefresh, CAID: "ca-eu-1", Name: "Refresh EU CA", Status: model.JobQueued},
		{Type: model.JobRenewal, CertificateID: added[0].ID, Name: "Renew www.example.test", Status: model.JobRunning, StartedAt: &started, ClaimedBy: "agent-a",
			Input: []byte(`{"subject":"CN=www.example.test","threshold_days":7}`)},
		{Type: model.JobRevokeCert, CertificateID: added[2].ID, Name: "Revoke old.example.test", Status: model.JobFailed, StartedAt: &started, CompletedAt: &now,
			Error: "CA refused the revocation: certificate already expired", ClaimedBy: "agent-a"},
	} {
		j.TriggeredBy, j.ScheduledAt = model.SchedulerActor, started
		if _, _, err := env.st.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	for _, hb := range []struct {
		js string
		at time.Time
	}{
		{`{"type":"HEARTBEAT","agent_id":"agent-a","host":"build-7"}`, now},
		{`{"type":"HEARTBEAT","agent_id":"agent-b","host":"edge-2"}`, now.Add(-time.Hour)},
	} {
		e, err := model.DecodeEvent([]byte(hb.js), hb.at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.st.AppendEvents(ctx, []model.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	return added[0].ID
}

// TestWatchPagesInBrowser drives the Alerts, Jobs, Certificates and Agents
// pages in headless Chromium as an operator, then as a viewer.
func TestWatchPagesInBrowser(t *testing.T) {
	env := newTestEnv(t, withConfig(Config{AgentOfflineAfter: 10 * time.Minute}))
	seedWatch(t, env)
	b := newBrowser(t)
	u := env.url
	text := func(t *testing.T, sel string) string {
		t.Helper()
		return get(t, b, 5*time.Second, chromedp.Text(chromedp.CSS(sel)))
	}
	eval := func(t *testing.T, js string) int {
		t.Helper()
		return get(t, b, 5*time.Second, chromedp.Evaluate[int](js))
	}
	noErrors := func(t *testing.T, page string) {
		t.Helper()
		if errs := b.seenErrors(); len(errs) > 0 {
			t.Errorf("%s logged console errors: %q", page, errs)
		}
	}
	b.do(t, 15*time.Second, signIn(u, "operator", password("operator")), chromedp.WaitVisible(chromedp.CSS("header.top .user")))

	t.Run("Alerts", func(t *testing.T) {
		b.resetLog()
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/alerts"), chromedp.WaitVisible(chromedp.ID("alerts")))
		if n := text(t, "#"+navCountsID); n != "3" {
			t.Errorf("navigation badge says %q, want 3 unread", n)
		}
		if n := eval(t, `document.querySelectorAll('#alerts tbody tr.unread').length`); n != 3 {
			t.Errorf("%d unread rows, want 3", n)
		}
		if n := eval(t, `document.querySelectorAll('#alerts .sev-error').length`); n != 1 {
			t.Errorf("%d ERROR badges, want 1", n)
		}
		b.screenshot(t, "alerts")
		// Mark one read: the table and the navigation badge follow.
		b.do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`#alerts tr[data-id="2"] button.mark-read`)),
			chromedp.WaitVisible(chromedp.Search(`//span[@id="`+navCountsID+`"][text()="2"]`)))
		if n := eval(t, `document.querySelectorAll('#alerts tbody tr.unread').length`); n != 2 {
			t.Errorf("after marking one read %d unread rows, want 2", n)
		}
		// A new alert shows without reloading the page.
		b.do(t, 5*time.Second, chromedp.Evaluate[chromedp.Void](`window.vigilNoReload = 7`))
		if _, _, err := env.st.RaiseAlert(context.Background(), model.Alert{Severity: model.SeverityWarn, Type: model.AlertAgentOffline,
			Title: "Agent agent-b is offline", Key: "live", Entity: model.Entity{Type: "AGENT", ID: "agent-b"}}); err != nil {
			t.Fatal(err)
		}
		b.do(t, 8*time.Second, chromedp.WaitVisible(chromedp.Search(`//table[@id="alerts"]//td[contains(., "agent-b is offline")]`)))
		if n := eval(t, `window.vigilNoReload || 0`); n != 7 {
			t.Errorf("the page reloaded to show the new alert")
		}
		// Mark all read: the badge goes.
		b.do(t, 10*time.Second, chromedp.Click(chromedp.ID("read-all")),
			chromedp.WaitNotPresent(chromedp.CSS(`#alerts tbody tr.unread`)))
		if shown := eval(t, `document.getElementById('`+navCountsID+`').hidden ? 0 : 1`); shown != 0 {
			t.Errorf("navigation badge still shown after marking all read")
		}
		noErrors(t, "/alerts")
	})

	t.Run("Jobs", func(t *testing.T) {
		b.resetLog()
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/jobs"), chromedp.WaitVisible(chromedp.ID("jobs")))
		order := get(t, b, 5*time.Second, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#jobs tbody tr')).map(r => r.className)`))
		if strings.Join(order, " ") != "job-failed job-running long job-queued" {
			t.Errorf("row order %q, want failed, long-running, queued", order)
		}
		b.screenshot(t, "jobs")
		b.do(t, 10*time.Second, chromedp.SetValue(chromedp.ID("f-status"), "FAILED"), chromedp.Submit(chromedp.ID("f-status")),
			chromedp.WaitVisible(chromedp.Search(`//a[text()="Clear"]`)))
		if n := eval(t, `document.querySelectorAll('#jobs tbody tr').length`); n != 1 {
			t.Errorf("status=FAILED shows %d jobs", n)
		}
		// The running renewal's detail has its input and timings.
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/jobs/2"), chromedp.WaitVisible(chromedp.ID("job-input")))
		if in, d := text(t, "#job-input"), text(t, "#duration"); !strings.Contains(in, `"threshold_days": 7`) || !strings.HasPrefix(d, "running for 1h") {
			t.Errorf("job detail: input %q, duration %q", in, d)
		}
		b.screenshot(t, "job")
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/jobs/3"), chromedp.WaitVisible(chromedp.ID("job-error")))
		// Queue a job with the form.
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/jobs"), chromedp.Click(chromedp.CSS("#new-job summary")),
			chromedp.SetValue(chromedp.ID("nj-type"), model.JobCARefresh), chromedp.SetValue(chromedp.ID("nj-ca"), "ca-us-2"),
			chromedp.SetValue(chromedp.ID("nj-name"), "Refresh US CA"), chromedp.Submit(chromedp.ID("nj-name")),
			chromedp.WaitVisible(chromedp.CSS("p.flash")))
		if loc, flash := get(t, b, 5*time.Second, chromedp.Location()), text(t, "p.flash"); !strings.Contains(loc, "/jobs/4") || flash != "Job queued." {
			t.Errorf("after queueing: %s %q", loc, flash)
		}
		noErrors(t, "/jobs")
		// A form mistake is shown on the page (answered 400), nothing is queued.
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/jobs"), chromedp.Click(chromedp.CSS("#new-job summary")),
			chromedp.SetValue(chromedp.ID("nj-type"), model.JobRenewal), chromedp.Submit(chromedp.ID("nj-name")),
			chromedp.WaitVisible(chromedp.CSS("p.error")))
		if msg := text(t, "p.error"); !strings.Contains(msg, "certificate_id") {
			t.Errorf("renewal without a certificate says %q", msg)
		}
	})

	t.Run("Certificates", func(t *testing.T) {
		b.resetLog()
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/certificates"), chromedp.WaitVisible(chromedp.ID("certificates")))
		order := get(t, b, 5*time.Second, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#certificates tbody tr')).map(r => r.className)`))
		if strings.Join(order, " ") != "cert-expired cert-critical cert-ok" {
			t.Errorf("inventory order %q, want expired, 5 days, 90 days", order)
		}
		if days := text(t, `#certificates tr.cert-critical .days-critical`); days != "4" && days != "5" {
			t.Errorf("days left of the 5-day certificate: %q", days)
		}
		b.screenshot(t, "certificates")
		// Upload a pasted PEM.
		c := testpki.NewCA(t).Issue(t, "shop.example.test", []string{"shop.example.test"}, time.Now().Add(-time.Hour), time.Now().Add(20*24*time.Hour))
		b.do(t, 10*time.Second, chromedp.SetValue(chromedp.ID("up-pem"), c.PEM), chromedp.Submit(chromedp.ID("up-pem")),
			chromedp.WaitVisible(chromedp.CSS("p.flash")))
		if flash := text(t, "p.flash"); flash != "Certificates uploaded." {
			t.Errorf("after upload: %q", flash)
		}
		if n := eval(t, `document.querySelectorAll('#certificates tbody tr.cert-warn').length`); n != 1 {
			t.Errorf("the uploaded 20-day certificate is not listed as warn (%d)", n)
		}
		// Filter by subject.
		b.do(t, 10*time.Second, chromedp.SetValue(chromedp.ID("f-subject"), "shop"), chromedp.Submit(chromedp.ID("f-subject")),
			chromedp.WaitVisible(chromedp.Search(`//a[text()="Clear"]`)))
		if n := eval(t, `document.querySelectorAll('#certificates tbody tr').length`); n != 1 {
			t.Errorf("subject=shop shows %d certificates", n)
		}
		// Register an endpoint; a bad one is refused with its reason.
		b.do(t, 10*time.Second, chromedp.SetValue(chromedp.ID("ne-host"), "10.0.4.13"), chromedp.SetValue(chromedp.ID("ne-sni"), "shop.example.test"),
			chromedp.Submit(chromedp.ID("ne-host")), chromedp.WaitVisible(chromedp.CSS("p.flash")))
		if n := eval(t, `document.querySelectorAll('#endpoints tbody tr[data-id]').length`); n != 2 {
			t.Errorf("%d endpoints listed after registering one", n)
		}
		noErrors(t, "/certificates")
		b.do(t, 10*time.Second, chromedp.SetValue(chromedp.ID("ne-host"), "10.0.4.14"), chromedp.SetValue(chromedp.ID("ne-fp"), "abc"),
			chromedp.Submit(chromedp.ID("ne-host")), chromedp.WaitVisible(chromedp.CSS("p.error")))
		if msg := text(t, "p.error"); !strings.Contains(msg, "SHA-256") {
			t.Errorf("bad fingerprint says %q", msg)
		}
	})

	t.Run("Agents", func(t *testing.T) {
		b.resetLog()
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/agents"), chromedp.WaitVisible(chromedp.ID("agents")))
		rows := text(t, "#agents tbody")
		if !strings.Contains(rows, "agent-a") || !strings.Contains(rows, "agent-b") {
			t.Errorf("agents table: %q", rows)
		}
		if a, b := text(t, `#agents tr[data-id="agent-a"] .badge`), text(t, `#agents tr[data-id="agent-b"] .badge`); a != "online" || b != "offline" {
			t.Errorf("agent-a %q, agent-b %q; want online and offline", a, b)
		}
		b.screenshot(t, "agents")
		noErrors(t, "/agents")
	})

	t.Run("PhoneWidth", func(t *testing.T) {
		b.do(t, 5*time.Second, chromedp.EmulateViewport(390, 844))
		defer b.do(t, 5*time.Second, chromedp.EmulateViewport(1280, 900))
		for _, p := range []string{"/alerts", "/jobs", "/certificates", "/agents"} {
			b.do(t, 10*time.Second, chromedp.Navigate(u+p), chromedp.WaitVisible(chromedp.CSS("main table")))
			// Only the tables may scroll sideways, never the page.
			if sw, cw := eval(t, `document.documentElement.scrollWidth`), eval(t, `document.documentElement.clientWidth`); sw > cw {
				t.Errorf("%s at phone width scrolls sideways: %d > %d", p, sw, cw)
			}
			if p == "/certificates" {
				b.screenshot(t, "certificates-phone")
			}
		}
	})

	t.Run("ViewerSeesButChangesNothing", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.Click(chromedp.CSS("header .who button")), chromedp.WaitVisible(chromedp.ID("username")))
		b.do(t, 15*time.Second, signIn(u, "viewer", password("viewer")), chromedp.WaitVisible(chromedp.CSS("header.top .user")))
		for _, p := range []struct{ path, table, form string }{
			{"/alerts", "alerts", "#read-all"}, {"/jobs", "jobs", "#new-job"}, {"/certificates", "certificates", "#up-pem"}, {"/agents", "agents", ""},
		} {
			b.do(t, 10*time.Second, chromedp.Navigate(u+p.path), chromedp.WaitVisible(chromedp.ID(p.table)))
			if st := b.status(u + p.path); st != http.StatusOK {
				t.Errorf("viewer got %d for %s", st, p.path)
			}
			if p.form != "" {
				if n := eval(t, fmt.Sprintf(`document.querySelectorAll(%q).length`, p.form)); n != 0 {
					t.Errorf("viewer sees %s on %s", p.form, p.path)
				}
			}
		}
		cookie := sessionValue(b.cookies(t))
		for _, path := range []string{"/alerts/read-all", "/alerts/1/read", "/jobs", "/certificates", "/endpoints"} {
			if resp := env.do(http.MethodPost, path, cookie, "x=1", nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("viewer's POST %s answered %d, want 403", path, resp.StatusCode)
			}
		}
	})
}
