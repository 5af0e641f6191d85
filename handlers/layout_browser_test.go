package handlers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"vigil/model"
)

// colorScheme makes the browser prefer a dark or light colour scheme, as a
// phone or desktop set to dark mode does; "" drops the preference.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		p := emulation.SetEmulatedMediaParams{}
		if scheme != "" {
			p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
		}
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, p)
		return err
	})
}

// TestConsoleLayoutInBrowser: the console on a phone (cards instead of
// tables that scroll sideways, alert titles and Mark read in view), at a
// 1366 px laptop (the Jobs table fits), from the keyboard (the detail
// drawer takes the focus, Escape closes it and gives the focus back), in
// dark mode, and paging back up with Newer.
func TestConsoleLayoutInBrowser(t *testing.T) {
	env := newTestEnv(t)
	seedConsole(env)
	seedWatch(t, env)
	ctx := context.Background()
	now := time.Now()
	if _, _, err := env.st.CreateJob(ctx, model.Job{Type: model.JobDeploymentValidation, EndpointID: 1, Status: model.JobFailed,
		Name: "Validate the deployment of www.example.test on 10.0.4.12:443", TriggeredBy: model.SchedulerActor, ScheduledAt: now,
		StartedAt: &now, CompletedAt: &now, ClaimedBy: "agent-win-build-signing-07",
		// What a deployment check says of a wrong certificate: two
		// fingerprints, long words that do not break by themselves.
		Error: "10.0.4.12:443 serves certificate CN=www.example.test (SHA-256 " + strings.Repeat("3f9a", 16) + "), not the expected " + strings.Repeat("c07e", 16)}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	u := env.url
	eval := func(t *testing.T, js string) string {
		t.Helper()
		return get(t, b, 5*time.Second, chromedp.Evaluate[string](js))
	}
	b.do(t, 15*time.Second, signIn(u, "operator", password("operator")), chromedp.WaitVisible(chromedp.CSS("header.top .user")))

	// overflow names what is wider than the screen or its frame: the page,
	// and each table's frame (which would scroll sideways).
	const overflow = `[document.documentElement.scrollWidth > innerWidth ? 'page ' + document.documentElement.scrollWidth : '',
		...[...document.querySelectorAll('.table-wrap')].map(w => w.scrollWidth > w.clientWidth + 1 ? (w.querySelector('table')||{}).id + ' ' + w.scrollWidth + '>' + w.clientWidth : '')
	].filter(Boolean).join(', ')`

	t.Run("Phone", func(t *testing.T) {
		b.do(t, 5*time.Second, chromedp.EmulateViewport(390, 844))
		defer b.do(t, 5*time.Second, chromedp.EmulateViewport(1280, 900))
		for _, p := range []string{"/events", "/alerts", "/jobs", "/certificates", "/agents", "/audit"} {
			b.do(t, 10*time.Second, chromedp.Navigate(u+p), chromedp.WaitVisible(chromedp.CSS("main table")))
			if o := eval(t, overflow); o != "" {
				t.Errorf("%s at 390 px scrolls sideways: %s", p, o)
			}
		}
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/alerts"), chromedp.WaitVisible(chromedp.ID("alerts")))
		// Every alert's title and Mark read button, wholly on the screen.
		off := eval(t, `[...document.querySelectorAll('#alerts tr.alert-row strong, #alerts button.mark-read')].filter(el => {
			const r = el.getBoundingClientRect(); return r.width === 0 || r.left < 0 || r.right > innerWidth;
		}).map(el => el.textContent.trim()).join(', ')`)
		if off != "" {
			t.Errorf("off the screen at 390 px: %s", off)
		}
		if n := eval(t, `String(document.querySelectorAll('#alerts button.mark-read').length)`); n == "0" {
			t.Fatalf("no Mark read button on the alerts page")
		}
		b.screenshot(t, "alerts-phone")
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/jobs"), chromedp.WaitVisible(chromedp.ID("jobs")))
		b.screenshot(t, "jobs-phone")
	})

	t.Run("JobsAt1366", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.EmulateViewport(1366, 768), chromedp.Navigate(u+"/jobs"), chromedp.WaitVisible(chromedp.ID("jobs")))
		defer b.do(t, 5*time.Second, chromedp.EmulateViewport(1280, 900))
		if o := eval(t, overflow); o != "" {
			t.Errorf("/jobs at 1366 px overflows: %s", o)
		}
	})

	t.Run("DrawerFromKeyboard", func(t *testing.T) {
		link := `tr[data-id="3"] a.detail-link`
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events"), chromedp.WaitVisible(chromedp.CSS(link)),
			chromedp.Focus(chromedp.CSS(link)), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#detail-3")))
		inside := `document.getElementById('drawer').contains(document.activeElement)`
		get(t, b, 3*time.Second, chromedp.Poll[bool](inside, chromedp.WithPollingInterval(20*time.Millisecond)))
		b.do(t, 5*time.Second, chromedp.KeyEvent(kb.Escape))
		state := eval(t, `(document.getElementById('drawer').classList.contains('open') ? 'open' : 'closed') + ' ' +
			(document.activeElement && document.activeElement.matches('`+link+`') ? 'opener' : (document.activeElement || {}).outerHTML)`)
		if state != "closed opener" {
			t.Errorf("after Escape the drawer and focus are %q, want closed and back on the row's link", state)
		}
		// The close button gives the focus back too.
		b.do(t, 10*time.Second, chromedp.Focus(chromedp.CSS(link)), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#detail-3")),
			chromedp.Click(chromedp.CSS("#drawer [data-close-drawer]")))
		if state := eval(t, `document.activeElement && document.activeElement.matches('`+link+`') ? 'opener' : (document.activeElement || {}).outerHTML`); state != "opener" {
			t.Errorf("after the close button the focus is on %s", state)
		}
	})

	t.Run("DarkMode", func(t *testing.T) {
		b.do(t, 5*time.Second, colorScheme("dark"))
		defer b.do(t, 5*time.Second, colorScheme(""))
		// lum gives the relative luminance (0 black, 1 white) of a colour.
		const lum = `const lum = c => { const [r, g, b] = c.match(/[\d.]+/g).map(Number).map(v => v / 255); return 0.2126*r + 0.7152*g + 0.0722*b; };`
		for _, p := range []struct{ path, table string }{{"/events", "events-table"}, {"/alerts", "alerts"}, {"/jobs", "jobs"}} {
			b.do(t, 10*time.Second, chromedp.Navigate(u+p.path), chromedp.WaitVisible(chromedp.ID(p.table)))
			got := eval(t, `(() => { `+lum+`
				const bg = el => lum(getComputedStyle(el).backgroundColor), fg = el => lum(getComputedStyle(el).color);
				const q = s => document.querySelector(s);
				const bad = [];
				if (bg(document.body) > 0.2) bad.push('page background ' + getComputedStyle(document.body).backgroundColor);
				if (fg(document.body) < 0.6) bad.push('page text ' + getComputedStyle(document.body).color);
				if (bg(q('.table-wrap')) > 0.2) bad.push('table background');
				if (bg(q('th')) > 0.2) bad.push('table header');
				if (bg(q('form.filters input, form.filters select')) > 0.2) bad.push('form field');
				return bad.join(', '); })()`)
			if got != "" {
				t.Errorf("%s in dark mode: %s light", p.path, got)
			}
		}
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events"), chromedp.WaitVisible(chromedp.CSS(`tr[data-id="3"] td.time`)),
			chromedp.Click(chromedp.CSS(`tr[data-id="3"] td.time`)), chromedp.WaitVisible(chromedp.CSS("#detail-3")))
		b.screenshot(t, "events-dark")
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/alerts"), chromedp.WaitVisible(chromedp.ID("alerts")))
		b.screenshot(t, "alerts-dark")
	})

	t.Run("NewerPages", func(t *testing.T) {
		// ids shows the page's rows by id.
		ids := func(t *testing.T) string {
			t.Helper()
			return eval(t, `[...document.querySelectorAll('#rows tr')].map(tr => tr.dataset.id).join(' ')`)
		}
		follow := func(t *testing.T, rel string) {
			t.Helper()
			b.do(t, 10*time.Second, leaving, chromedp.Click(chromedp.CSS(`nav.pager a[rel="`+rel+`"]`)), until(loaded),
				chromedp.WaitVisible(chromedp.ID("events-table")))
		}
		// ALLOWED uses: events 1, 2, 4 and 5; a page of one each.
		for _, start := range []string{"/events?outcome=ALLOWED&limit=1", "/events?outcome=ALLOWED&limit=2", "/events?limit=3"} {
			t.Run(start, func(t *testing.T) {
				b.do(t, 10*time.Second, chromedp.Navigate(u+start), chromedp.WaitVisible(chromedp.ID("events-table")))
				pages := []string{ids(t)}
				for eval(t, `String(!!document.querySelector('nav.pager a[rel="next"]'))`) == "true" {
					follow(t, "next")
					pages = append(pages, ids(t))
					if len(pages) > 20 {
						t.Fatalf("Older never ends: %q", pages)
					}
				}
				if len(pages) < 2 {
					t.Fatalf("one page only: %q", pages)
				}
				for i := len(pages) - 2; i >= 0; i-- {
					follow(t, "prev")
					if got := ids(t); got != pages[i] {
						t.Fatalf("Newer from page %d shows %q, want page %d's %q (pages %q)", i+2, got, i+1, pages[i], pages)
					}
				}
				loc := eval(t, `location.pathname + location.search`)
				if strings.Contains(loc, "before=") || eval(t, `String(!!document.querySelector('nav.pager a[rel="prev"]'))`) != "false" {
					t.Errorf("Newer from the second page led to %s, not the newest page without a Newer link", loc)
				}
			})
		}
		t.Run("StartIndex", func(t *testing.T) {
			b.do(t, 10*time.Second, chromedp.Navigate(u+"/events?outcome=ALLOWED&limit=1&start=3"), chromedp.WaitVisible(chromedp.ID("events-table")))
			var got []string
			for range 3 {
				follow(t, "prev")
				got = append(got, ids(t))
			}
			if want := []string{"2", "4", "5"}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Newer from start index 3 shows %q, want %q", got, want)
			}
		})
	})
}
