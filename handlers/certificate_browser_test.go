package handlers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"vigil/model"
)

// TestAlertToCertificateInBrowser follows an alert to its cause as a
// viewer: the alert's entity opens the certificate's page, whose served-on
// table opens the endpoint's page, whose job opens the job.
func TestAlertToCertificateInBrowser(t *testing.T) {
	env := newTestEnv(t)
	p := seedCertPages(t, env)
	b := newBrowser(t)
	u := env.url
	eval := func(js string) string {
		t.Helper()
		return get(t, b, 5*time.Second, chromedp.Evaluate[string](js))
	}
	certLink := fmt.Sprintf(`#alerts a[href="/certificates/%d"]`, p.cert.ID)
	b.do(t, 15*time.Second, signIn(u, model.RoleViewer, password(model.RoleViewer)), chromedp.WaitVisible(chromedp.CSS("header.top .user")),
		chromedp.Navigate(u+"/alerts"), chromedp.WaitVisible(chromedp.CSS(certLink)),
		leaving, chromedp.Click(chromedp.CSS(certLink)), until(loaded), chromedp.WaitVisible(chromedp.ID("pem")))
	if path := eval(`location.pathname`); path != fmt.Sprintf("/certificates/%d", p.cert.ID) {
		t.Fatalf("the alert's entity led to %s", path)
	}
	if h := eval(`document.querySelector('h1').textContent`); !strings.Contains(h, "www.example.test") {
		t.Errorf("certificate page heading %q", h)
	}
	if days := eval(`document.getElementById('days-left').textContent`); !strings.HasSuffix(days, "days left") {
		t.Errorf("days left says %q", days)
	}
	if cur := eval(`(document.querySelector('nav [aria-current]')||{}).textContent || ''`); !strings.Contains(cur, "Certificates") {
		t.Errorf("navigation marks %q, want Certificates", cur)
	}
	b.screenshot(t, "certificate")

	b.do(t, 10*time.Second, leaving, chromedp.Click(chromedp.CSS(`#served a[href="/endpoints/1"]`)), until(loaded),
		chromedp.WaitVisible(chromedp.ID("last-result")))
	if r := eval(`document.getElementById('last-result').textContent`); !strings.Contains(r, "FAILED") {
		t.Errorf("endpoint's last result %q", r)
	}
	b.screenshot(t, "endpoint")
	b.do(t, 10*time.Second, leaving, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#about-jobs a[href="/jobs/%d"]`, p.deployJob))), until(loaded))
	if path := eval(`location.pathname`); path != fmt.Sprintf("/jobs/%d", p.deployJob) {
		t.Errorf("the endpoint's job led to %s", path)
	}
	if errs := b.seenErrors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}
