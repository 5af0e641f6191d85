package handlers

import (
	"context"
	"database/sql"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"vigil/internal/sqlitelock"

	"vigil/model"
	"vigil/store"
)

// login posts the sign-in form and returns the response.
func (env *testEnv) login(name, pw, oldCookie string) *http.Response {
	env.t.Helper()
	form := url.Values{"username": {name}, "password": {pw}, "next": {"/events?q=x"}}
	return env.do(http.MethodPost, "/login", oldCookie, form.Encode(), nil)
}

func cookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	return nil
}

func TestLoginStartsFreshSession(t *testing.T) {
	env := newTestEnv(t)
	first := env.login("operator", password("operator"), "")
	c1 := cookieOf(first)
	if first.StatusCode != http.StatusSeeOther || first.Header.Get("Location") != "/events?q=x" || c1 == nil {
		t.Fatalf("sign-in: %d → %q, cookie %v", first.StatusCode, first.Header.Get("Location"), c1)
	}
	if !c1.HttpOnly || c1.SameSite != http.SameSiteLaxMode || c1.Secure || c1.Path != "/" {
		t.Errorf("cookie attributes %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure over plain HTTP", c1)
	}
	// Signing in again from the same browser replaces the session id.
	second := env.login("operator", password("operator"), c1.Value)
	c2 := cookieOf(second)
	if c2 == nil || c2.Value == c1.Value {
		t.Fatalf("second sign-in kept the session id")
	}
	if resp := env.do(http.MethodGet, "/api/v1/events", c1.Value, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the replaced session still works: %d", resp.StatusCode)
	}
	if resp := env.do(http.MethodGet, "/api/v1/events", c2.Value, "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the new session does not work: %d", resp.StatusCode)
	}
	// The cookie holds only a random id: the database stores its hash.
	var n int
	if err := dbCount(env, `SELECT count(*) FROM sessions WHERE id_hash = ?`, &n, model.TokenHash(c2.Value)); err != nil || n != 1 {
		t.Errorf("sessions row for the cookie: %d %v", n, err)
	}
}

// dbCount runs a counting query on the test database file.
func dbCount(env *testEnv, q string, n *int, args ...any) error {
	db, err := openSQL(env.st.Path())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.QueryRow(q, args...).Scan(n)
}

func TestLoginAnswers(t *testing.T) {
	env := newTestEnv(t)
	env.st.SetUserDisabled(context.Background(), "viewer", true, func(_, u model.User) ([]model.Event, error) {
		e, err := model.NewAuditEvent(time.Now(), model.TypeAccountLocked, "SUCCESS", model.SchedulerActor, model.Entity{Type: "USER", ID: u.Name}, "test", nil)
		return []model.Event{e}, err
	})
	for _, tc := range []struct {
		name, user, pw string
		want           int
		says           string
	}{
		{"Empty", "", "", http.StatusBadRequest, "Enter your user name and password"},
		{"WrongPassword", "auditor", "not-the-password", http.StatusUnauthorized, "Wrong user name or password"},
		{"UnknownUser", "nobody", "whatever-password", http.StatusUnauthorized, "Wrong user name or password"},
		{"DisabledUser", "viewer", password("viewer"), http.StatusUnauthorized, "Wrong user name or password"},
		{"LongName", strings.Repeat("a", 65), "x", http.StatusBadRequest, "at most 64"},
		{"Right", "auditor", password("auditor"), http.StatusSeeOther, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.login(tc.user, tc.pw, "")
			body := readBody(t, resp)
			if resp.StatusCode != tc.want || !strings.Contains(body, tc.says) {
				t.Errorf("got %d, want %d saying %q:\n%s", resp.StatusCode, tc.want, tc.says, body)
			}
			if tc.want != http.StatusSeeOther && cookieOf(resp) != nil {
				t.Errorf("a failed sign-in set a session cookie")
			}
		})
	}
	metrics := readBody(t, env.do(http.MethodGet, "/metrics", env.session("admin"), "", nil))
	for _, want := range []string{`vigil_console_logins_total{result="failed"} 3`, `vigil_console_logins_total{result="succeeded"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// A signed-in browser that opens the sign-in page goes on.
	resp := env.do(http.MethodGet, "/login?next=/audit", env.session("auditor"), "", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/audit" {
		t.Errorf("signed-in /login: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"Empty", "", "/"},
		{"Path", "/events", "/events"},
		{"PathAndQuery", "/events?q=a+b&type=X", "/events?q=a+b&type=X"},
		{"OtherSite", "https://evil.example/", "/"},
		{"SchemeRelative", "//evil.example/x", "/"},
		{"BackslashTrick", `/\evil.example`, "/"},
		{"Relative", "events", "/"},
		{"DotDot", "/a/../settings", "/settings"},
		{"EscapedPathKept", "/events/a%20b?q=x%2Fy", "/events/a%20b?q=x%2Fy"},
		{"Tab", "/\t/evil.example/x", "/"},
		{"EncodedTab", "/%09/evil.example/x", "/"},
		{"DoubleEncodedTab", "/%2509/evil.example/x", "/"},
		{"EncodedNewline", "/%0d%0a/evil.example", "/"},
		{"EncodedSlash", "/%2Fevil.example/x", "/"},
		{"DoubleEncodedSlash", "/%252Fevil.example/x", "/"},
		{"BackslashLater", `/a\evil`, "/"},
		{"EncodedBackslash", "/%5Cevil.example", "/"},
		{"DecodesForever", "/%2525252525252F", "/"},
		{"BadEscape", "/100%", "/"},
		{"QuerySpace", "/events?q=a b", "/events?q=a%20b"},
		{"QueryBackslash", `/events?q=\\evil`, "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := safeNext(tc.in); got != tc.want {
				t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCrossOriginChangesRefused(t *testing.T) {
	env := newTestEnv(t)
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"CrossSiteFetch", http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"OtherOrigin", http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden},
		{"SameOrigin", http.Header{"Sec-Fetch-Site": {"same-origin"}}, http.StatusSeeOther},
		{"NoBrowserHeaders", nil, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"username": {"u-" + strings.ToLower(tc.name)}, "role": {"viewer"}, "password": {"long-enough-password"}}
			resp := env.do(http.MethodPost, "/settings/users", env.session("admin"), form.Encode(), tc.header)
			if resp.StatusCode != tc.want {
				t.Errorf("got %d, want %d", resp.StatusCode, tc.want)
			}
			_, err := env.st.UserByName(context.Background(), "u-"+strings.ToLower(tc.name))
			if created := err == nil; created != (tc.want == http.StatusSeeOther) {
				t.Errorf("user created: %v", created)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	env := newTestEnv(t)
	resp := env.do(http.MethodGet, "/events", env.session("admin"), "", nil)
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "style-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("CSP allows unsafe code: %q", csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", h)
	}
	body := readBody(t, resp)
	if regexp.MustCompile(`<script>|\son[a-z]+=|javascript:|style="`).MatchString(body) {
		t.Errorf("page has inline script, handlers or styles")
	}
	if !strings.Contains(body, `/static/vendor/htmx.min.js`) || strings.Contains(body, "https://") {
		t.Errorf("htmx must come from the appliance itself")
	}
	if resp := env.do(http.MethodGet, "/static/vendor/htmx.min.js", "", "", nil); resp.StatusCode != 200 || !strings.Contains(readBody(t, resp), "htmx") {
		t.Errorf("embedded htmx: %d", resp.StatusCode)
	}
}

func TestLogPages(t *testing.T) {
	env := newTestEnv(t)
	env.appendEvents(
		`{"type":"CERT_USED","outcome":"ALLOWED","actor":{"id":"alice"}}`,
		`{"category":"ACCESS_CONTROL","type":"ACCESS_CHECK","actor":{"id":"alice"}}`,
		`{"category":"AUDIT_LOG","type":"ISSUANCE_COMPLETED","outcome":"SUCCESS","actor":{"type":"SYSTEM","id":"scheduler"}}`,
		`{"category":"SYSTEM","type":"E_SECTION_VISITED","actor":{"type":"USER","id":"admin"},"details":{"section":"events"}}`,
	)
	html := http.Header{"Accept": {"text/html"}}
	for _, tc := range []struct {
		name, role, path string
		want             int
		has, hasNot      []string
	}{
		{"EventsHideAccessControl", "viewer", "/events", 200, []string{"CERT_USED"}, []string{"ACCESS_CHECK", "ISSUANCE_COMPLETED"}},
		{"EventsShowAccessControl", "viewer", "/events?hide_access_control=0", 200, []string{"CERT_USED", "ACCESS_CHECK"}, nil},
		{"AuditForAuditor", "auditor", "/audit", 200, []string{"ISSUANCE_COMPLETED", "scheduler"}, []string{"CERT_USED"}},
		{"SystemForOperatorOnlyOwn", "operator", "/system", 200, nil, []string{">admin<"}},
		{"SystemForAdmin", "admin", "/system", 200, []string{">admin<", "events"}, nil},
		{"CategoryOfAnotherPage", "admin", "/events?category=AUDIT_LOG", 400, []string{"not listed on Events"}, nil},
		{"BadTime", "admin", "/events?from=yesterday", 400, []string{"not an RFC3339 time"}, nil},
		{"BadLimit", "admin", "/audit?limit=5000", 400, []string{"limit must be between 1 and 1000"}, nil},
		{"DatetimeLocal", "admin", "/events?from=2000-01-01T00:00", 200, []string{"CERT_USED", `value="2000-01-01T00:00:00"`}, nil},
		{"ViewerAudit", "viewer", "/audit", 403, []string{"403"}, nil},
		{"OlderPageHasNoLive", "admin", "/events?start=1", 200, nil, []string{`id="live"`}},
		{"MissingDetail", "admin", "/events/999", 404, []string{"404"}, nil},
		{"DetailOfInvisible", "viewer", "/events/3", 403, []string{"403"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.do(http.MethodGet, tc.path, env.session(tc.role), "", html)
			body := readBody(t, resp)
			if resp.StatusCode != tc.want {
				t.Errorf("got %d, want %d:\n%s", resp.StatusCode, tc.want, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("content type %q", ct)
			}
			for _, s := range tc.has {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(body, s) {
					t.Errorf("page shows %q", s)
				}
			}
		})
	}
}

func TestLivePoll(t *testing.T) {
	env := newTestEnv(t)
	ids := env.appendEvents(`{"type":"CERT_USED","actor":{"id":"alice"}}`)
	cookie := env.session("admin")
	hx := http.Header{"Hx-Request": {"true"}}
	after := "/events?actor=alice&after=" + strconvI(ids[0])
	if resp := env.do(http.MethodGet, after, cookie, "", hx); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("poll with nothing new: %d", resp.StatusCode)
	}
	newIDs := env.appendEvents(`{"type":"CERT_USED","actor":{"id":"bob"}}`, `{"type":"CERT_USED","actor":{"id":"alice"}}`)
	resp := env.do(http.MethodGet, after, cookie, "", hx)
	body := readBody(t, resp)
	if resp.StatusCode != 200 || strings.Contains(body, "<html") || strings.Contains(body, "bob") || !strings.Contains(body, `data-id="`+strconvI(newIDs[1])+`"`) {
		t.Fatalf("poll: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, "after="+strconvI(newIDs[1])) || !strings.Contains(body, "actor=alice") {
		t.Errorf("the next poll does not continue from the newest row with the filter:\n%s", body)
	}
	// A poll records no System log entry; a page view does.
	visits := func() int {
		found, err := env.st.FindEvents(context.Background(), model.EventFilter{Type: "E_SECTION_VISITED", Visibility: model.VisibilityFor(env.users["admin"])})
		ev := found.Events
		if err != nil {
			t.Fatal(err)
		}
		return len(ev)
	}
	if n := visits(); n != 0 {
		t.Errorf("polls recorded %d visits", n)
	}
	env.do(http.MethodGet, "/events", cookie, "", nil)
	if n := visits(); n != 1 {
		t.Errorf("a page view recorded %d visits", n)
	}
}

func strconvI(n int64) string { return strconv.FormatInt(n, 10) }

// openSQL opens the database file read-only, as an operator's sqlite3 would.
func openSQL(path string) (*sql.DB, error) { return sql.Open("sqlite3", "file:"+path+"?mode=ro") }

// holdIndexLock takes the write lock of the full-text database beside st:
// the indexer then cannot write, and the index falls behind the events.
func holdIndexLock(t *testing.T, st *store.Store) (release func()) {
	return sqlitelock.Hold(t, filepath.Join(filepath.Dir(st.Path()), "vigil-fts.db"))
}

var liveURLRe = regexp.MustCompile(`id="live" class="live" hx-get="([^"]+)"`)

// TestIndexLagNotice: while the full-text index is behind (its database
// locked by another writer), the events page says so, worded for whether
// the list shown goes through the index; the live poll brings the notice
// in, keeps its count current and takes it away once the index has caught
// up. The dashboard, Settings and the API's index_lag say the same.
func TestIndexLagNotice(t *testing.T) {
	env := newTestEnv(t)
	cookie := env.session("admin")
	hx := http.Header{"Hx-Request": {"true"}}
	const notice = "Search is catching up"
	first := env.appendEvents(`{"type":"CERT_USED","actor":{"id":"alice"},"message":"before"}`)[0]

	body := readBody(t, env.do(http.MethodGet, "/events", cookie, "", nil))
	if !strings.Contains(body, `<div id="index-notice" hidden>`) || strings.Contains(body, notice) {
		t.Fatalf("current index: the page lacks the hidden notice or shows it:\n%s", body)
	}
	live := "/events?after=" + strconvI(first)
	if resp := env.do(http.MethodGet, live, cookie, "", hx); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("poll with nothing new on a current index: %d", resp.StatusCode)
	}
	apiLag := func(query string) (int64, []model.Event) {
		t.Helper()
		var got struct {
			Events   []model.Event `json:"events"`
			IndexLag *int64        `json:"index_lag"`
		}
		resp := env.do(http.MethodGet, "/api/v1/events?"+query, cookie, "", nil)
		if err := json.Unmarshal([]byte(readBody(t, resp)), &got); err != nil || got.IndexLag == nil {
			t.Fatalf("GET /api/v1/events?%s: %d %v, index_lag %v", query, resp.StatusCode, err, got.IndexLag)
		}
		return *got.IndexLag, got.Events
	}
	for deadline := time.Now().Add(30 * time.Second); env.st.IndexLag() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the index did not catch up before the test")
		}
	}

	release := holdIndexLock(t, env.st)
	second := env.appendEvents(`{"type":"CERT_USED","actor":{"id":"alice"},"message":"while locked"}`)[0]
	// poll follows the page's live poll as a browser does, until an answer
	// satisfies done; it returns that answer.
	poll := func(done func(status int, body string) bool) string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			resp := env.do(http.MethodGet, live, cookie, "", hx)
			body := readBody(t, resp)
			if resp.StatusCode == http.StatusOK {
				m := liveURLRe.FindStringSubmatch(body)
				if m == nil {
					t.Fatalf("poll answer without the next poll:\n%s", body)
				}
				live = html.UnescapeString(m[1])
			}
			if done(resp.StatusCode, body) {
				return body
			}
		}
		t.Fatalf("live poll %s: still not there after 30 s", live)
		return ""
	}
	body = poll(func(status int, body string) bool { return strings.Contains(body, notice) })
	for _, want := range []string{`hx-swap-oob="true" class="notice" role="status"`, "This list is complete", "<template>"} {
		if !strings.Contains(body, want) {
			t.Errorf("poll answer while behind lacks %q:\n%s", want, body)
		}
	}
	if !strings.Contains(live, "index_behind=1") {
		t.Errorf("the next poll %s does not say the notice is shown", live)
	}
	if !strings.Contains(readBody(t, env.do(http.MethodGet, live, cookie, "", hx)), notice) {
		t.Errorf("a poll while still behind does not keep the notice current")
	}

	page := readBody(t, env.do(http.MethodGet, "/events", cookie, "", nil))
	if !strings.Contains(page, notice) || !strings.Contains(page, "This list is complete") || strings.Contains(page, "hx-swap-oob") {
		t.Errorf("events page while behind:\n%s", page)
	}
	if page := readBody(t, env.do(http.MethodGet, "/events?actor=alice", cookie, "", nil)); !strings.Contains(page, "This list may be missing some of them") {
		t.Errorf("a list filtered through the index does not warn that it may be incomplete:\n%s", page)
	}
	if lag, events := apiLag("actor=alice"); lag < 1 || len(events) != 1 || events[0].ID != first {
		t.Errorf("API through the stalled index: index_lag %d, %d events", lag, len(events))
	}
	if lag, events := apiLag("from=2000-01-01T00:00:00Z"); lag != 0 || !slices.ContainsFunc(events, func(e model.Event) bool { return e.ID == second }) {
		t.Errorf("API without the index: index_lag %d, %d events", lag, len(events))
	}
	if page := readBody(t, env.do(http.MethodGet, "/", cookie, "", nil)); !strings.Contains(page, "search is catching up") {
		t.Errorf("dashboard while behind does not say so")
	}
	if page := readBody(t, env.do(http.MethodGet, "/settings", cookie, "", nil)); !strings.Contains(page, "catching up</span> searchable up to event ") || !strings.Contains(page, "not yet searchable") {
		t.Errorf("Settings while behind does not say so")
	}

	release()
	body = poll(func(status int, body string) bool { return status == http.StatusOK && !strings.Contains(body, notice) })
	if !strings.Contains(body, `<div id="index-notice" hx-swap-oob="true" hidden>`) || strings.Contains(live, "index_behind") {
		t.Errorf("the poll after catching up does not take the notice away (next poll %s):\n%s", live, body)
	}
	if resp := env.do(http.MethodGet, live, cookie, "", hx); resp.StatusCode != http.StatusNoContent {
		t.Errorf("poll with nothing new once caught up: %d", resp.StatusCode)
	}
	if page := readBody(t, env.do(http.MethodGet, "/events", cookie, "", nil)); strings.Contains(page, notice) {
		t.Errorf("events page once caught up still shows the notice")
	}
	if lag, events := apiLag("actor=alice"); lag != 0 || len(events) != 2 {
		t.Errorf("API once caught up: index_lag %d, %d events", lag, len(events))
	}
	if page := readBody(t, env.do(http.MethodGet, "/settings", cookie, "", nil)); !strings.Contains(page, "current: searchable up to event") {
		t.Errorf("Settings once caught up does not say the index is current")
	}
}

// TestDetailShowsFiltersUsed checks that the detail of a page visit shows
// its filters_used as typed: & and < are not \u escapes.
func TestDetailShowsFiltersUsed(t *testing.T) {
	env := newTestEnv(t)
	cookie := env.session("admin")
	html := http.Header{"Accept": {"text/html"}}
	readBody(t, env.do(http.MethodGet, "/events?actor=alice&type=CERT_USED", cookie, "", html))
	var id int64
	db, err := openSQL(env.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT max(id) FROM events WHERE type = 'E_SECTION_VISITED'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	body := readBody(t, env.do(http.MethodGet, "/events/"+strconvI(id), cookie, "", html))
	if strings.Contains(body, `\u0026`) || !strings.Contains(body, "actor=alice&amp;") {
		t.Errorf("filters_used is not shown as typed:\n%s", body)
	}
}
