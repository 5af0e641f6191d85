package handlers

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"vigil/internal/testtools"
	"vigil/model"
)

// browser is one headless Chromium tab that remembers the console errors
// and the status of each page it loaded.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	errors   []string
	statuses map[string]int64 // document URL → HTTP status
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	// Debian's Chromium, which .ci/test-deps installs.
	chromiumPath := testtools.Require(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx, statuses: map[string]int64{}}
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.errors = append(b.errors, "console.error: "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			b.errors = append(b.errors, "exception: "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				b.errors = append(b.errors, fmt.Sprintf("%s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventResponseReceived:
			if ev.Type == network.ResourceTypeDocument {
				b.statuses[ev.Response.URL] = ev.Response.Status
			}
		}
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	b.do(t, 30*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, runtime.Enable, cdp.Empty{})
		return err
	}))
	return b
}

// do runs steps, failing the test after timeout.
func (b *browser) do(t *testing.T, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// get runs one action and returns its value, failing the test after timeout.
func get[T any](t *testing.T, b *browser, timeout time.Duration, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// cookies returns the browser's cookies.
func (b *browser) cookies(t *testing.T) []*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Cookies
}

// resetLog forgets the errors and statuses seen so far.
func (b *browser) resetLog() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = nil
	b.statuses = map[string]int64{}
}

func (b *browser) seenErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *browser) status(url string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.statuses[url]
}

// screenshot saves a PNG of the page under VIGIL_SCREENSHOTS, when set.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("VIGIL_SCREENSHOTS")
	if dir == "" {
		return
	}
	b.do(t, 5*time.Second, chromedp.Sleep(300*time.Millisecond))
	png := get(t, b, 10*time.Second, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signIn fills and sends the sign-in form.
// The page it submits from is marked, and the action returns once the
// answer has replaced it: a slow answer (sign-ins paced after failures)
// must not land while the next step already works on the sign-in page.
func signIn(url, name, pw string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(url+"/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SetValue(chromedp.ID("username"), name),
		chromedp.SetValue(chromedp.ID("password"), pw),
		leaving,
		chromedp.Submit(chromedp.ID("password")),
		until(loaded),
	)
}

// until waits until the JavaScript expression is true on the page. While
// the page changes (a form sent, a link followed) the check itself may
// fail, its document gone; it is tried again.
func until(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			done, err := chromedp.Evaluate[bool](expr)(ctx, t)
			if err == nil && done {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// loaded is true once the page has loaded and is not the one marked before
// a form was sent or a link followed (window.vigilSubmitted).
const loaded = `!window.vigilSubmitted && document.readyState === "complete"`

// leaving marks the page, so that until(loaded) waits for the next one.
var leaving = chromedp.Evaluate[chromedp.Void](`window.vigilSubmitted = true`)

// rowCount counts the visible rows of the event table.
const rowCount = `document.querySelectorAll('#events-table tbody:not([hidden]) tr').length`

// seedConsole stores events of every category, as agents and the
// scheduler would send them.
func seedConsole(env *testEnv) {
	base := time.Now().Add(-2 * time.Hour).UTC()
	at := func(min int) string { return base.Add(time.Duration(min) * time.Minute).Format(time.RFC3339) }
	var objs []string
	for i, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		outcome, policy := "ALLOWED", "code-signing-prod"
		if i%3 == 2 {
			outcome, policy = "DENIED", "code-signing-restricted"
		}
		objs = append(objs, fmt.Sprintf(`{"time":%q,"type":"CERT_USED","outcome":%q,"actor":{"type":"USER","id":%q,"ip":"10.1.0.%d"},
			"certificate":{"serial":"4F:2A:%02d","subject":"CN=build-signing-%d"},"policy":%q,"process":"signtool.exe","command":"sign /fd sha256",
			"app":"Signum","agent_id":"agent-win-%02d","message":"signtool used build-signing","details":{"hostname":"build-%02d","os":"Windows Server 2022"}}`,
			at(i*7), outcome, u, 10+i, i, i%2, policy, i%3+1, i))
	}
	objs = append(objs,
		fmt.Sprintf(`{"time":%q,"category":"AUTH","type":"E_LOGIN_FAILED","outcome":"FAILURE","severity":"warning","actor":{"type":"USER","id":"mallory","ip":"203.0.113.9"},"message":"wrong OTP","details":{"reason":"bad otp","method":"totp"}}`, at(50)),
		fmt.Sprintf(`{"time":%q,"category":"AUTH","type":"E_LOGIN_SUCCEEDED","outcome":"SUCCESS","actor":{"type":"USER","id":"alice","ip":"10.1.0.10"},"message":"signed in"}`, at(52)),
		fmt.Sprintf(`{"time":%q,"category":"ACCESS_CONTROL","type":"ACCESS_CHECK","outcome":"ALLOWED","actor":{"type":"USER","id":"alice"},"message":"authorization check"}`, at(53)),
		fmt.Sprintf(`{"time":%q,"category":"AUDIT_LOG","type":"ISSUANCE_COMPLETED","outcome":"SUCCESS","actor":{"type":"AGENT","id":"agent-win-01"},"entity":{"type":"CERTIFICATE","id":"4F:2A:10"},"message":"certificate issued for build-signing-0"}`, at(60)),
		fmt.Sprintf(`{"time":%q,"category":"AUDIT_LOG","type":"RENEWAL_INITIATED","outcome":"INFO","actor":{"type":"SYSTEM","id":"scheduler"},"entity":{"type":"CERTIFICATE","id":"4F:2A:11"},"message":"renewal queued 30 days before expiry"}`, at(61)),
		fmt.Sprintf(`{"time":%q,"category":"AUDIT_LOG","type":"REVOCATION_COMPLETED","outcome":"FAILURE","severity":"err","actor":{"type":"USER","id":"bob"},"entity":{"type":"CERTIFICATE","id":"4F:2A:12"},"message":"CA refused revocation"}`, at(62)),
	)
	env.appendEvents(objs...)
}

// TestConsoleInBrowser drives the console in headless Chromium the way an
// operator would, through one browser for all steps.
func TestConsoleInBrowser(t *testing.T) {
	env := newTestEnv(t)
	seedConsole(env)
	ingest := env.token(model.RoleAdmin, model.ScopeIngest)
	b := newBrowser(t)
	u := env.url
	text := func(t *testing.T, sel string) string {
		t.Helper()
		return get(t, b, 5*time.Second, chromedp.Text(chromedp.CSS(sel)))
	}
	count := func(t *testing.T) int { t.Helper(); return get(t, b, 5*time.Second, chromedp.Evaluate[int](rowCount)) }

	post := func(t *testing.T, obj string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, u+"/api/v1/events", strings.NewReader(obj))
		req.Header.Set("Authorization", "Bearer "+ingest)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("posting an event: %d %s", resp.StatusCode, readBody(t, resp))
		}
	}

	t.Run("LoginPage", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/login"), chromedp.WaitVisible(chromedp.ID("username")))
		b.screenshot(t, "login")
	})

	t.Run("LoginAsAdmin", func(t *testing.T) {
		b.do(t, 15*time.Second, signIn(u, "admin", password("admin")), chromedp.WaitVisible(chromedp.CSS("header.top .user")))
		if who := text(t, "header.top .user"); !strings.Contains(who, "admin") {
			t.Fatalf("header shows %q after signing in as admin", who)
		}
	})

	t.Run("TokenFormAsksAgentIDForScopeAgent", func(t *testing.T) {
		display := `getComputedStyle(document.getElementById("nt-agent").closest(".field")).display`
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/settings"), chromedp.WaitReady(chromedp.ID("nt-scope")))
		if d := get(t, b, 5*time.Second, chromedp.Evaluate[string](display)); d != "none" {
			t.Errorf("agent id field shown for scope ingest (display %s)", d)
		}
		b.do(t, 5*time.Second, chromedp.SetValue(chromedp.ID("nt-scope"), "agent"))
		if d := get(t, b, 5*time.Second, chromedp.Evaluate[string](display)); d == "none" {
			t.Errorf("agent id field hidden for scope agent")
		}
	})

	t.Run("EventsListsEvents", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events"), chromedp.WaitVisible(chromedp.ID("events-table")))
		// 6 USAGE + 2 AUTH + this session's sign-in (AUTH); ACCESS_CONTROL hidden by default.
		if n := count(t); n != 9 {
			t.Errorf("/events shows %d rows, want 9 (USAGE and AUTH, ACCESS_CONTROL hidden)", n)
		}
		rows := text(t, "#rows")
		for _, want := range []string{"alice", "CERT_USED", "DENIED", "code-signing-restricted", "agent-win-02", "E_LOGIN_FAILED"} {
			if !strings.Contains(rows, want) {
				t.Errorf("/events table lacks %q", want)
			}
		}
		if strings.Contains(rows, "ACCESS_CHECK") {
			t.Errorf("ACCESS_CONTROL events shown though hidden by default")
		}
	})

	t.Run("PostedEventAppearsLive", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events"), chromedp.WaitReady(chromedp.ID("live")),
			chromedp.Evaluate[chromedp.Void](`window.vigilNoReload = 42`))
		start := time.Now()
		post(t, `{"type":"CERT_USED","outcome":"ALLOWED","actor":{"type":"USER","id":"live-user-1"},"message":"posted while watching"}`)
		b.do(t, 3*time.Second, chromedp.WaitVisible(chromedp.Search(`//table[@id="events-table"]//td[contains(., "live-user-1")]`)))
		t.Logf("the posted event showed after %v", time.Since(start).Round(time.Millisecond))
		if marker := get(t, b, 5*time.Second, chromedp.Evaluate[int](`window.vigilNoReload || 0`)); marker != 42 {
			t.Errorf("the page reloaded to show the new row")
		}
	})

	t.Run("LiveKeepsFilterAndPauses", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events?actor=live-user-2"), chromedp.WaitReady(chromedp.ID("live")))
		post(t, `{"type":"CERT_USED","outcome":"DENIED","actor":{"type":"USER","id":"other-user-2"},"message":"not for this filter"}`)
		post(t, `{"type":"CERT_USED","outcome":"ALLOWED","actor":{"type":"USER","id":"live-user-2"},"message":"for this filter"}`)
		b.do(t, 3*time.Second, chromedp.WaitVisible(chromedp.Search(`//table[@id="events-table"]//td[contains(., "live-user-2")]`)))
		if tbl, n := text(t, "#events-table"), count(t); strings.Contains(tbl, "other-user-2") || n != 1 {
			t.Errorf("filtered live table has %d rows (%q), want only live-user-2's", n, tbl)
		}
		// Paused: the new row waits, counted; resumed: it shows.
		b.do(t, 5*time.Second, chromedp.Click(chromedp.ID("live-toggle")))
		post(t, `{"type":"CERT_USED","outcome":"ALLOWED","actor":{"type":"USER","id":"live-user-2"},"message":"while paused"}`)
		b.do(t, 4*time.Second, chromedp.WaitVisible(chromedp.Search(`//button[@id="live-toggle"][contains(., "1 new")]`)))
		if n := count(t); n != 1 {
			t.Errorf("while paused %d rows are visible, want 1", n)
		}
		b.do(t, 5*time.Second, chromedp.Click(chromedp.ID("live-toggle")))
		if n, label := count(t), text(t, "#live-toggle"); n != 2 || !strings.Contains(label, "Live") {
			t.Errorf("after resuming %d rows are visible and the toggle says %q, want 2 and Live", n, label)
		}
	})

	t.Run("LiveKeepsScrollAndDetail", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.EmulateViewport(1280, 420), chromedp.Navigate(u+"/events"),
			chromedp.WaitReady(chromedp.ID("live")),
			chromedp.Click(chromedp.CSS(`tr[data-id="3"] td.time`)), chromedp.WaitVisible(chromedp.CSS("#detail-3")),
			chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 250)`))
		const top = `Math.round(document.querySelector('tr[data-id="2"]').getBoundingClientRect().top)`
		before := get(t, b, 5*time.Second, chromedp.Evaluate[int](top))
		post(t, `{"type":"CERT_USED","outcome":"ALLOWED","actor":{"type":"USER","id":"live-user-3"},"message":"while scrolled"}`)
		b.do(t, 4*time.Second, chromedp.WaitReady(chromedp.Search(`//table[@id="events-table"]//td[contains(., "live-user-3")]`)))
		// Within a pixel: rows are fractions of a pixel high.
		if after := get(t, b, 5*time.Second, chromedp.Evaluate[int](top)); after < before-1 || after > before+1 {
			t.Errorf("a new row moved the row in view from y=%d to y=%d", before, after)
		}
		if d := text(t, "#drawer"); !strings.Contains(d, "Event 3") {
			t.Errorf("the open detail was lost: %q", d)
		}
		b.do(t, 5*time.Second, chromedp.EmulateViewport(1280, 900))
	})

	t.Run("SearchFiltersAndExportCarriesFilter", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events"), chromedp.WaitVisible(chromedp.ID("f-q")),
			chromedp.SetValue(chromedp.ID("f-q"), "mallory"), chromedp.Submit(chromedp.ID("f-q")),
			chromedp.WaitVisible(chromedp.Search(`//table[@id="events-table"]//td[contains(., "mallory")]`)))
		loc := get(t, b, 5*time.Second, chromedp.Location())
		href := get(t, b, 5*time.Second, chromedp.AttributeValue(chromedp.ID("export"), "href")).Value
		if !strings.Contains(loc, "q=mallory") {
			t.Errorf("filtered page's URL %q does not carry q=mallory", loc)
		}
		if n, rows := count(t), text(t, "#rows"); n != 1 || !strings.Contains(rows, "E_LOGIN_FAILED") {
			t.Errorf("q=mallory shows %d rows: %q; want the one failed login", n, rows)
		}
		if !strings.Contains(href, "q=mallory") || !strings.HasPrefix(href, "/api/v1/events.csv?") {
			t.Fatalf("export link %q does not carry the filter", href)
		}
		// The export link, fetched with the browser's session, gives the same rows.
		resp := env.do(http.MethodGet, href, sessionValue(b.cookies(t)), "", nil)
		csv := readBody(t, resp)
		if lines := strings.Count(strings.TrimSpace(csv), "\n"); resp.StatusCode != 200 || lines != 1 || !strings.Contains(csv, "mallory") {
			t.Errorf("export of the filter: %d, %d data lines:\n%s", resp.StatusCode, lines, csv)
		}
	})

	t.Run("ClickCellFilters", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events"),
			chromedp.Click(chromedp.Search(`//table[@id="events-table"]//a[@class="filter"][text()="bob"]`)),
			chromedp.WaitVisible(chromedp.Search(`//a[text()="Clear"]`)))
		if loc, n := get(t, b, 5*time.Second, chromedp.Location()), count(t); !strings.Contains(loc, "actor=bob") || n != 1 {
			t.Errorf("clicking user bob went to %q with %d rows, want actor=bob and 1 row", loc, n)
		}
	})

	t.Run("RowClickShowsDetailAndHash", func(t *testing.T) {
		ids := env.appendEvents(`{"type":"CERT_USED","outcome":"DENIED","actor":{"type":"USER","id":"detail-user"},"message":"detail please","details":{"reason":"policy forbids","nested":{"k":[1,2]}}}`)
		e, err := env.st.EventByID(context.Background(), ids[0], model.VisibilityFor(env.users["admin"]))
		if err != nil {
			t.Fatal(err)
		}
		row := chromedp.CSS(fmt.Sprintf(`tr[data-id="%d"] td.time`, e.ID))
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events"), chromedp.WaitVisible(row),
			chromedp.Click(row), chromedp.WaitVisible(chromedp.CSS("#drawer .detail")))
		detail := text(t, "#drawer")
		for _, want := range []string{hex.EncodeToString(e.Hash), "detail-user", "policy forbids", `"nested": {`, "Chain position"} {
			if !strings.Contains(detail, want) {
				t.Errorf("detail drawer lacks %q:\n%s", want, detail)
			}
		}
		b.screenshot(t, "events")
	})

	t.Run("EveryPageAnswers200WithoutConsoleErrors", func(t *testing.T) {
		for _, p := range []struct{ path, shot string }{
			{"/", ""}, {"/events", ""}, {"/audit", "audit"}, {"/system", "system"},
			{"/settings", "settings"}, {"/events/1", "event"}, {"/account", ""},
			{"/events?hide_access_control=0&category=ACCESS_CONTROL", ""},
		} {
			b.resetLog()
			// Long enough for a live poll or two.
			b.do(t, 10*time.Second, chromedp.Navigate(u+p.path), chromedp.WaitVisible(chromedp.CSS("main")), chromedp.Sleep(1300*time.Millisecond))
			if st := b.status(u + p.path); st != 200 {
				t.Errorf("%s answered %d for admin", p.path, st)
			}
			if errs := b.seenErrors(); len(errs) > 0 {
				t.Errorf("%s logged console errors: %q", p.path, errs)
			}
			if p.shot != "" {
				b.screenshot(t, p.shot)
			}
		}
	})

	t.Run("PhoneWidth", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.EmulateViewport(390, 844), chromedp.Navigate(u+"/events"),
			chromedp.WaitVisible(chromedp.ID("events-table")))
		scrollW := get(t, b, 5*time.Second, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		clientW := get(t, b, 5*time.Second, chromedp.Evaluate[int](`document.documentElement.clientWidth`))
		if scrollW > clientW {
			t.Errorf("at phone width the page scrolls sideways: %d > %d (only the table should)", scrollW, clientW)
		}
		b.screenshot(t, "events-phone")
		// The less used filters fold away on a phone, and unfold on request.
		shown := func() bool {
			return get(t, b, 5*time.Second, chromedp.Evaluate[bool](`document.getElementById('f-actor').offsetParent !== null`))
		}
		if shown() {
			t.Errorf("the User filter shows on a phone before More filters is opened")
		}
		b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(".more-toggle")))
		if !shown() {
			t.Errorf("More filters did not unfold the User filter")
		}
		b.do(t, 5*time.Second, chromedp.EmulateViewport(1280, 900))
	})

	t.Run("LogoutEndsSession", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events"), chromedp.WaitVisible(chromedp.ID("events-table")))
		old := sessionValue(b.cookies(t))
		if old == "" {
			t.Fatal("no session cookie while signed in")
		}
		b.do(t, 10*time.Second, chromedp.Click(chromedp.CSS("header .who button")), chromedp.WaitVisible(chromedp.ID("username")))
		for _, p := range []string{"/events", "/api/v1/events", "/settings"} {
			if resp := env.do(http.MethodGet, p, old, "", nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("after logout the old cookie got %d for %s, want 401", resp.StatusCode, p)
			}
		}
		resp := env.do(http.MethodGet, "/events", old, "", http.Header{"Accept": {"text/html"}})
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
			t.Errorf("a browser with the old cookie got %d → %q, want 303 → /login", resp.StatusCode, loc)
		}
	})

	t.Run("ViewerHasNoSystemLog", func(t *testing.T) {
		b.do(t, 15*time.Second, signIn(u, "viewer", password("viewer")), chromedp.WaitVisible(chromedp.CSS("header.top .user")))
		links := get(t, b, 5*time.Second, chromedp.AttributesAll(chromedp.CSSAll("nav.nav a")))
		var hrefs []string
		for _, l := range links {
			hrefs = append(hrefs, l["href"])
		}
		if all := strings.Join(hrefs, " "); strings.Contains(all, "/system") || strings.Contains(all, "/audit") || !strings.Contains(all, "/events") {
			t.Errorf("viewer's navigation: %v; want /events and no /system or /audit", hrefs)
		}
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/system"), chromedp.WaitVisible(chromedp.CSS("main")))
		if st := b.status(u + "/system"); st != http.StatusForbidden {
			t.Errorf("viewer got %d for /system, want 403", st)
		}
		if main := text(t, "main"); !strings.Contains(main, "403") {
			t.Errorf("viewer's /system page says %q", main)
		}
		// A session ended elsewhere (here: removed from the database, as
		// a password reset does) sends the live table to the sign-in page.
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events"), chromedp.WaitReady(chromedp.ID("live")))
		if err := env.st.DeleteSession(context.Background(), sessionValue(b.cookies(t))); err != nil {
			t.Fatal(err)
		}
		b.do(t, 5*time.Second, chromedp.WaitVisible(chromedp.ID("username")))
	})

	t.Run("WrongPasswordsAreThrottled", func(t *testing.T) {
		var statuses []int64
		var msg string
		for i := range 15 {
			b.resetLog()
			b.do(t, 15*time.Second, signIn(u, "operator", fmt.Sprintf("wrong-password-%d", i)), chromedp.WaitVisible(chromedp.CSS("p.error")))
			msg = text(t, "p.error")
			statuses = append(statuses, b.status(u+"/login"))
		}
		for i, st := range statuses {
			want := int64(http.StatusUnauthorized)
			if i >= 9 {
				want = http.StatusTooManyRequests
			}
			if st != want {
				t.Errorf("attempt %d answered %d, want %d (all: %v)", i+1, st, want, statuses)
				break
			}
		}
		if !strings.Contains(msg, "Too many failed sign-ins") {
			t.Errorf("the 15th attempt says %q", msg)
		}
		// Throttled means throttled: the right password waits too.
		b.do(t, 15*time.Second, signIn(u, "operator", password("operator")), chromedp.WaitVisible(chromedp.CSS("p.error")))
		if st := b.status(u + "/login"); st != http.StatusTooManyRequests {
			t.Errorf("right password during the lock answered %d, want 429", st)
		}
		found, err := env.st.FindEvents(context.Background(), model.EventFilter{Type: "E_ACCOUNT_LOCKED", Visibility: model.VisibilityFor(env.users["admin"])})
		locked := found.Events
		if err != nil || len(locked) != 2 {
			t.Errorf("E_ACCOUNT_LOCKED events: %d (AUTH and SYSTEM expected), err %v", len(locked), err)
		}
	})
}

// sessionValue returns the session cookie's value among cookies.
func sessionValue(cookies []*network.Cookie) string {
	for _, c := range cookies {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// TestIndexNoticeInBrowser: the events page's notice that the full-text
// index is behind comes and goes with the live poll (swapped out of band
// from inside a <template>, as a <div> cannot stand among table rows),
// while new rows keep arriving.
func TestIndexNoticeInBrowser(t *testing.T) {
	env := newTestEnv(t)
	seedConsole(env)
	b := newBrowser(t)
	u := env.url
	b.do(t, 15*time.Second, signIn(u, "admin", password("admin")), chromedp.WaitVisible(chromedp.CSS("header.top .user")))
	b.do(t, 10*time.Second, chromedp.Navigate(u+"/events"), chromedp.WaitReady(chromedp.ID("live")))
	hidden := func() bool {
		return get(t, b, 5*time.Second, chromedp.Evaluate[bool](`document.getElementById('index-notice').hidden`))
	}
	if !hidden() {
		t.Fatal("the notice shows while the index is current")
	}
	b.resetLog()
	release := holdIndexLock(t, env.st)
	env.appendEvents(`{"type":"CERT_USED","outcome":"ALLOWED","actor":{"type":"USER","id":"while-behind"},"message":"not searchable yet"}`)
	b.do(t, 20*time.Second,
		chromedp.WaitVisible(chromedp.Search(`//table[@id="events-table"]//td[contains(., "while-behind")]`)),
		chromedp.WaitVisible(chromedp.Search(`//div[@id="index-notice"][contains(., "Search is catching up")]`)))
	if n := get(t, b, 5*time.Second, chromedp.Evaluate[int](`document.querySelectorAll('#index-notice').length`)); n != 1 {
		t.Errorf("%d notices on the page after polls", n)
	}
	b.screenshot(t, "events-index-behind")
	release()
	get(t, b, 20*time.Second, chromedp.Poll[bool](`document.getElementById('index-notice').hidden`, chromedp.WithPollingInterval(100*time.Millisecond)))
	if errs := b.seenErrors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}
