package handlers

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"vigil/model"
)

// TestDashboardInBrowser opens the dashboard in headless Chromium over a
// week of generated activity, follows a segment of each chart to the page
// behind it (which must list exactly the events the segment counts), and
// watches the dashboard update itself when new events arrive.
func TestDashboardInBrowser(t *testing.T) {
	now := time.Now().UTC()
	env, clock := newDashboardEnv(t, Config{DashboardRefresh: time.Second}, now)
	generateActivity(env, clock, now)
	b := newBrowser(t)
	u := env.url
	b.do(t, 15*time.Second, signIn(u, "admin", password("admin")), chromedp.WaitVisible(chromedp.CSS("header.top .user")))

	t.Run("Renders", func(t *testing.T) {
		b.resetLog()
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/?range=7d"), chromedp.WaitVisible(chromedp.CSS("#chart-events svg")))
		for _, id := range []string{"chart-events", "chart-lifecycle", "chart-job-failures", "chart-alerts"} {
			n := get(t, b, 5*time.Second, chromedp.Evaluate[int](`document.querySelectorAll('#`+id+` a.bar rect').length`))
			if n == 0 {
				t.Errorf("%s draws no bars", id)
			}
			title := get(t, b, 5*time.Second, chromedp.Evaluate[string](`document.querySelector('#`+id+` svg title').textContent`))
			if title == "" {
				t.Errorf("%s has no accessible title", id)
			}
		}
		cards := get(t, b, 5*time.Second, chromedp.Text(chromedp.CSS(".cards")))
		for _, want := range []string{"Unread ERROR alerts", "Failed jobs", "Long-running jobs", "Certificates expiring in 7 days", "Offline agents", "Ingest rate", "Denied certificate uses", "Failed sign-ins"} {
			if !strings.Contains(cards, want) {
				t.Errorf("cards lack %q: %q", want, cards)
			}
		}
		if errs := b.seenErrors(); len(errs) > 0 {
			t.Errorf("console errors: %q", errs)
		}
		b.screenshot(t, "dashboard")
	})

	// Each chart's segments open a page whose table lists their rows.
	for _, tc := range []struct{ chart, table string }{
		{"chart-events", "events-table"}, {"chart-lifecycle", "events-table"}, {"chart-job-failures", "jobs"}, {"chart-alerts", "alerts"},
	} {
		chart := tc.chart
		t.Run("LinkOf"+chart, func(t *testing.T) {
			b.do(t, 10*time.Second, chromedp.Navigate(u+"/?range=7d"), chromedp.WaitVisible(chromedp.CSS("#"+chart+" svg")))
			// The tallest segment that lists fewer rows than a page holds.
			const pick = `(() => { let best = null;
				document.querySelectorAll('#%s a.bar').forEach((a, i) => {
					const n = +a.dataset.count; a.id = a.id || ('bar-' + i);
					if (n < 100 && (!best || n > +best.dataset.count)) best = a; });
				return best ? best.id + ' ' + best.dataset.count + ' ' + best.getAttribute('href') : ''; })()`
			picked := get(t, b, 5*time.Second, chromedp.Evaluate[string](strings.Replace(pick, "%s", chart, 1)))
			parts := strings.SplitN(picked, " ", 3)
			if len(parts) != 3 {
				t.Fatalf("no bar to follow in %s", chart)
			}
			want, _ := strconv.Atoi(parts[1])
			b.do(t, 10*time.Second, chromedp.Click(chromedp.CSS("#"+chart+" #"+parts[0])), chromedp.WaitVisible(chromedp.ID(tc.table)))
			loc := get(t, b, 5*time.Second, chromedp.Location())
			if !strings.HasSuffix(loc, parts[2]) {
				t.Errorf("clicking the bar opened %s, want %s", loc, parts[2])
			}
			rows := `document.querySelectorAll('#` + tc.table + ` tbody:not([hidden]) tr').length`
			if got := get(t, b, 5*time.Second, chromedp.Evaluate[int](rows)); got != want {
				t.Errorf("the bar counts %d, the page it links to (%s) lists %d", want, parts[2], got)
			}
			from := get(t, b, 5*time.Second, chromedp.Value(chromedp.ID("f-from")))
			if from == "" {
				t.Errorf("the linked page's From filter is empty")
			}
		})
	}

	t.Run("RefreshesLive", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/"), chromedp.WaitVisible(chromedp.CSS("#chart-events svg")),
			chromedp.Evaluate[chromedp.Void](`window.vigilNoReload = 7`))
		const denied = `[...document.querySelectorAll('.cards li')].find(li => li.querySelector('.label').textContent === 'Denied certificate uses').querySelector('.value').textContent`
		before := get(t, b, 5*time.Second, chromedp.Evaluate[string](denied))
		env.appendEvents(`{"type":"CERT_USED","outcome":"DENIED","actor":{"type":"USER","id":"mallory"},"message":"denied while watching"}`)
		clock.Set(time.Now().Add(time.Second)) // the event is in the dashboard's last 24 hours
		n, _ := strconv.Atoi(before)
		get(t, b, 5*time.Second, chromedp.Poll[bool](denied+` === '`+strconv.Itoa(n+1)+`'`, chromedp.WithPollingInterval(100*time.Millisecond)))
		if marker := get(t, b, 5*time.Second, chromedp.Evaluate[int](`window.vigilNoReload || 0`)); marker != 7 {
			t.Errorf("the dashboard reloaded the page to refresh")
		}
	})

	t.Run("PhoneWidth", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.EmulateViewport(390, 844), chromedp.Navigate(u+"/?range=7d"),
			chromedp.WaitVisible(chromedp.CSS("#chart-events svg")))
		scrollW := get(t, b, 5*time.Second, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		clientW := get(t, b, 5*time.Second, chromedp.Evaluate[int](`document.documentElement.clientWidth`))
		if scrollW > clientW {
			t.Errorf("at phone width the dashboard scrolls sideways: %d > %d", scrollW, clientW)
		}
		chartW := get(t, b, 5*time.Second, chromedp.Evaluate[int](`Math.round(document.querySelector('#chart-events svg').getBoundingClientRect().width)`))
		if chartW < 300 || chartW > clientW {
			t.Errorf("the events chart is %d px wide on a %d px screen", chartW, clientW)
		}
		b.screenshot(t, "dashboard-phone")
		b.do(t, 5*time.Second, chromedp.EmulateViewport(1280, 900))
	})

	t.Run("Dark", func(t *testing.T) {
		b.do(t, 10*time.Second, colorScheme("dark"), chromedp.Navigate(u+"/?range=7d"), chromedp.WaitVisible(chromedp.CSS("#chart-events svg")))
		defer b.do(t, 5*time.Second, colorScheme(""))
		if bg := get(t, b, 5*time.Second, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('.chart')).backgroundColor`)); bg != "rgb(25, 32, 42)" {
			t.Errorf("a chart's panel is %s in dark mode, want the dark panel", bg)
		}
		b.screenshot(t, "dashboard-dark")
	})

	t.Run("Viewer", func(t *testing.T) {
		vb := newBrowser(t)
		vb.do(t, 15*time.Second, signIn(u, model.RoleViewer, password(model.RoleViewer)), chromedp.WaitVisible(chromedp.CSS("#chart-events")))
		legend := get(t, vb, 5*time.Second, chromedp.Text(chromedp.CSS("#chart-events .legend")))
		if strings.Contains(legend, "AUDIT_LOG") || strings.Contains(legend, "SYSTEM") || !strings.Contains(legend, "USAGE") {
			t.Errorf("a viewer's events chart shows %q", legend)
		}
		if n := get(t, vb, 5*time.Second, chromedp.Evaluate[int](`document.querySelectorAll('#chart-lifecycle').length`)); n != 0 {
			t.Errorf("a viewer sees the audit log's lifecycle chart")
		}
	})
}
