package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/testpki"
	"vigil/model"
)

// testClock is a clock that tests set, shared by the store and the
// handlers.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time       { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Set(t time.Time)      { c.ns.Store(t.UnixNano()) }
func newTestClock(t time.Time) *testClock { c := &testClock{}; c.Set(t); return c }

// newDashboardEnv is a console over a store that records agent heartbeats,
// with one clock for the store and the handlers, set to now.
func newDashboardEnv(t *testing.T, cfg Config, now time.Time) (*testEnv, *testClock) {
	t.Helper()
	clock := newTestClock(now)
	return newTestEnv(t, withConfig(cfg), withClock(clock.Now)), clock
}

// activity is what generateActivity stored that the dashboard's cards
// count.
type activity struct {
	unread                       map[string]int // unread alerts by severity
	failedJobs, longRunning      int
	expiring7d, expiring30d      int
	offlineAgents, agents        int
	deniedUses24h, failedLogin24 int
}

// generateActivity stores two weeks of varied, deterministic activity
// ending at now, as agents, the scheduler and operators would make it:
// certificate uses (some denied), sign-ins (some failed), access checks,
// issuance and renewal in the audit log, console activity, alerts of
// every severity (some read), jobs that succeeded, failed or still run,
// certificates near expiry, and agents online and offline.
func generateActivity(env *testEnv, clock *testClock, now time.Time) activity {
	env.t.Helper()
	t, ctx := env.t, context.Background()
	rng := rand.New(rand.NewPCG(8, 8))
	act := activity{unread: map[string]int{}}
	users := []string{"alice", "bob", "carol", "dave", "erin"}
	var objs []string
	// The event cards count the current hour and the 23 before it.
	since := now.Truncate(time.Hour).Add(-23 * time.Hour)
	ago := func(maxAgo time.Duration) time.Time { return now.Add(-time.Duration(rng.Int64N(int64(maxAgo)))) }
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	for range 420 {
		outcome, at := "ALLOWED", ago(7*24*time.Hour)
		if rng.IntN(6) == 0 {
			outcome = "DENIED"
			if !at.Before(since) {
				act.deniedUses24h++
			}
		}
		objs = append(objs, fmt.Sprintf(`{"time":%q,"type":"CERT_USED","outcome":%q,"actor":{"type":"USER","id":%q},"agent_id":"agent-%02d","policy":"code-signing","certificate":{"serial":"4F:%02X"},"message":"signtool used build-signing"}`,
			stamp(at), outcome, users[rng.IntN(len(users))], rng.IntN(6), rng.IntN(200)))
	}
	// Within 24 hours of now but before the first hour the cards count.
	objs = append(objs, fmt.Sprintf(`{"time":%q,"type":"CERT_USED","outcome":"DENIED","actor":{"type":"USER","id":"alice"},"message":"signtool used build-signing"}`,
		stamp(since.Add(-time.Minute))))
	for range 110 {
		typ, outcome, at := "E_LOGIN_SUCCEEDED", "SUCCESS", ago(7*24*time.Hour)
		if rng.IntN(4) == 0 {
			typ, outcome = "E_LOGIN_FAILED", "FAILURE"
			if !at.Before(since) {
				act.failedLogin24++
			}
		}
		objs = append(objs, fmt.Sprintf(`{"time":%q,"category":"AUTH","type":%q,"outcome":%q,"actor":{"type":"USER","id":%q},"message":"sign-in"}`,
			stamp(at), typ, outcome, users[rng.IntN(len(users))]))
	}
	for range 150 {
		objs = append(objs, fmt.Sprintf(`{"time":%q,"category":"ACCESS_CONTROL","type":"ACCESS_CHECK","outcome":"ALLOWED","actor":{"type":"USER","id":%q},"message":"authorization check"}`,
			stamp(ago(7*24*time.Hour)), users[rng.IntN(len(users))]))
	}
	for day := range 14 {
		dayAt := func() string {
			return stamp(now.Add(-time.Duration(day)*24*time.Hour - time.Duration(rng.IntN(3600))*time.Second))
		}
		for range rng.IntN(5) {
			objs = append(objs, fmt.Sprintf(`{"time":%q,"category":"AUDIT_LOG","type":"ISSUANCE_COMPLETED","outcome":"SUCCESS","actor":{"type":"AGENT","id":"agent-01"},"entity":{"type":"CERTIFICATE","id":"%d"},"message":"certificate issued"}`, dayAt(), rng.IntN(1000)))
		}
		for range rng.IntN(4) {
			objs = append(objs, fmt.Sprintf(`{"time":%q,"category":"AUDIT_LOG","type":"RENEWAL_COMPLETED","outcome":"SUCCESS","actor":{"type":"SYSTEM","id":"scheduler"},"entity":{"type":"JOB","id":"%d"},"message":"renewal completed"}`, dayAt(), rng.IntN(1000)))
		}
	}
	for i := range 60 {
		actor := []string{`{"type":"USER","id":"admin"}`, `{"type":"USER","id":"operator"}`, `{"type":"SYSTEM","id":"scheduler"}`}[i%3]
		objs = append(objs, fmt.Sprintf(`{"time":%q,"category":"SYSTEM","type":"E_SECTION_VISITED","outcome":"INFO","actor":%s,"message":"console activity"}`,
			stamp(ago(24*time.Hour)), actor))
	}
	env.appendEvents(objs...)
	act.agents = 6

	// Two agents last heard from two hours ago: offline.
	for _, id := range []string{"agent-old-1", "agent-old-2"} {
		e, err := model.DecodeEvent([]byte(`{"type":"CERT_USED","agent_id":"`+id+`","message":"last words"}`), now.Add(-2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		e.Source = model.SourceHTTP
		if _, err := env.st.AppendEvents(ctx, []model.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	act.agents, act.offlineAgents = act.agents+2, 2

	// Alerts, raised at their time: some read.
	for day := range 14 {
		for i := range 1 + day%3 {
			sev := model.AlertSeverities[(day+i)%3]
			clock.Set(now.Add(-time.Duration(day)*24*time.Hour - time.Duration(rng.IntN(7200))*time.Second))
			a, _, err := env.st.RaiseAlert(ctx, model.Alert{Severity: sev, Type: model.AlertExpiringSoon, Title: "Certificate expiring",
				Message: "renew it", Key: fmt.Sprintf("gen:%d:%d", day, i), Entity: model.Entity{Type: "CERTIFICATE", ID: strconv.Itoa(day)}})
			if err != nil {
				t.Fatal(err)
			}
			if day%4 == 0 {
				if _, err := env.st.MarkAlertRead(ctx, a.ID, model.Actor{Type: "USER", ID: "admin"}); err != nil {
					t.Fatal(err)
				}
			} else {
				act.unread[sev]++
			}
		}
	}
	// Jobs, each created, claimed and finished on its day: about one in
	// three fails.
	runJob := func(at time.Time, typ string, status string) {
		clock.Set(at)
		j := model.Job{Type: typ, AgentID: "agent-01", CAID: "ca-1", Input: json.RawMessage(`{"subject":"CN=gen"}`)}
		j, _, err := env.st.CreateJob(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.st.ClaimJob(ctx, model.AgentCall{AgentID: "agent-01"}); err != nil {
			t.Fatal(err)
		}
		if status == "" {
			return
		}
		clock.Set(at.Add(time.Minute))
		res := model.JobResult{Status: status}
		if status == model.JobFailed {
			res.Error = "CA unreachable"
			act.failedJobs++
		}
		if _, err := env.st.FinishJob(ctx, j.ID, model.AgentCall{AgentID: "agent-01"}, res, nil); err != nil {
			t.Fatal(err)
		}
	}
	for day := range 14 {
		at := now.Add(-time.Duration(day)*24*time.Hour - 2*time.Hour)
		typ := []string{model.JobIssueCert, model.JobCARefresh}[day%2]
		status := model.JobSuccess
		if rng.IntN(3) == 0 {
			status = model.JobFailed
		}
		runJob(at, typ, status)
	}
	runJob(now.Add(-time.Hour), model.JobCARefresh, "")
	act.longRunning = 1

	// Certificates expiring in 3, 20 and 200 days.
	clock.Set(now)
	ca := testpki.NewCA(t)
	var pems []byte
	for _, days := range []int{3, 20, 200} {
		pems = append(pems, ca.Issue(t, fmt.Sprintf("svc-%d.example.net", days), nil, now.Add(-24*time.Hour), now.Add(time.Duration(days)*24*time.Hour)).PEM...)
	}
	certs, err := model.ParsePEMBundle(pems)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.st.AddCertificates(ctx, certs, model.CertSourceUpload, model.Actor{Type: "USER", ID: "admin"}); err != nil {
		t.Fatal(err)
	}
	act.expiring7d, act.expiring30d = 1, 2
	return act
}

// chartBarRE finds each bar of a rendered chart: its link and count.
var chartBarRE = regexp.MustCompile(`<a class="bar" href="([^"]+)" aria-label="[^"]*" data-count="(\d+)">`)

// dashboard GETs the dashboard as role and returns the page.
func (env *testEnv) dashboard(role, query string) (int, string) {
	env.t.Helper()
	resp := env.do(http.MethodGet, "/"+query, env.session(role), "", nil)
	return resp.StatusCode, readBody(env.t, resp)
}

// countOnPage returns how many events the console page behind a chart
// link lists, asking the API with the page's own filter (with the
// restriction each log page adds: its categories).
func (env *testEnv) countOnPage(role, link string) int {
	env.t.Helper()
	u, err := url.Parse(strings.ReplaceAll(link, "&amp;", "&"))
	if err != nil {
		env.t.Fatal(err)
	}
	q := u.Query()
	api := "/api/v1" + u.Path
	if lp, ok := logPages[u.Path]; ok {
		api = "/api/v1/events"
		if q.Get("category") == "" {
			q.Set("category", strings.Join(lp.Categories, ","))
		}
	}
	q.Set("limit", "1000")
	resp := env.do(http.MethodGet, api+"?"+q.Encode(), env.session(role), "", nil)
	var page struct{ Events, Alerts, Jobs []json.RawMessage }
	if err := json.Unmarshal([]byte(readBody(env.t, resp)), &page); err != nil || resp.StatusCode != 200 {
		env.t.Fatalf("GET %s for %s: %d %v", api, link, resp.StatusCode, err)
	}
	return len(page.Events) + len(page.Alerts) + len(page.Jobs)
}

// TestDashboardChartsMatchPages checks every segment of every chart, for
// each role: it links to a page the role may open, and that page lists
// exactly as many events as the segment counts.
func TestDashboardChartsMatchPages(t *testing.T) {
	now := time.Now().UTC()
	env, clock := newDashboardEnv(t, Config{}, now)
	generateActivity(env, clock, now)
	for _, tc := range []struct {
		role       string
		ranges     []string
		wantCharts []string
		notCharts  []string
	}{
		{model.RoleAdmin, []string{"", "?range=7d"}, []string{"chart-events", "chart-lifecycle", "chart-job-failures", "chart-alerts"}, nil},
		{model.RoleOperator, []string{""}, []string{"chart-events", "chart-lifecycle", "chart-job-failures", "chart-alerts"}, nil},
		{model.RoleViewer, []string{"?range=7d"}, []string{"chart-events", "chart-job-failures", "chart-alerts"}, []string{"chart-lifecycle", "/audit?", "/system?", "AUDIT_LOG", ">SYSTEM"}},
	} {
		for _, rg := range tc.ranges {
			t.Run(tc.role+rg, func(t *testing.T) {
				code, page := env.dashboard(tc.role, rg)
				if code != 200 {
					t.Fatalf("GET /%s as %s: %d", rg, tc.role, code)
				}
				for _, id := range tc.wantCharts {
					if !strings.Contains(page, `id="`+id+`"`) {
						t.Errorf("%s lacks %s", tc.role, id)
					}
				}
				for _, s := range tc.notCharts {
					if strings.Contains(page, s) {
						t.Errorf("%s's dashboard shows %q", tc.role, s)
					}
				}
				bars := chartBarRE.FindAllStringSubmatch(page, -1)
				if len(bars) < 20 {
					t.Fatalf("%d bars drawn", len(bars))
				}
				total := 0
				// Opening the dashboard is itself a SYSTEM event, recorded
				// in the current hour after the page was drawn.
				current := url.QueryEscape(now.Truncate(time.Hour).Format(time.RFC3339))
				for _, b := range bars {
					n, _ := strconv.Atoi(b[2])
					total += n
					if strings.HasPrefix(b[1], "/system?from="+current) {
						continue
					}
					if got := env.countOnPage(tc.role, b[1]); got != n {
						t.Errorf("bar of %d links to %s, which lists %d", n, b[1], got)
					}
				}
				if total == 0 {
					t.Fatal("the bars count nothing")
				}
			})
		}
	}
}

// cardValue returns the figure of the dashboard card labelled label.
func cardValue(t *testing.T, page, label string) string {
	t.Helper()
	m := regexp.MustCompile(`<span class="value">([^<]*)</span><span class="label">` + regexp.QuoteMeta(label) + `</span>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no card %q", label)
	}
	return m[1]
}

// cardHref returns the link of the dashboard card labelled label.
func cardHref(t *testing.T, page, label string) string {
	t.Helper()
	m := regexp.MustCompile(`<a href="([^"]*)"><span class="value">[^<]*</span><span class="label">` + regexp.QuoteMeta(label) + `</span>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no card %q", label)
	}
	return m[1]
}

func TestDashboardCards(t *testing.T) {
	now := time.Now().UTC()
	env, clock := newDashboardEnv(t, Config{}, now)
	act := generateActivity(env, clock, now)
	_, page := env.dashboard(model.RoleViewer, "")
	for label, want := range map[string]int{
		"Unread ERROR alerts": act.unread[model.SeverityError], "Unread WARN alerts": act.unread[model.SeverityWarn],
		"Unread INFO alerts": act.unread[model.SeverityInfo], "Failed jobs": act.failedJobs, "Long-running jobs": act.longRunning,
		"Certificates expiring in 7 days": act.expiring7d, "Certificates expiring in 30 days": act.expiring30d,
		"Offline agents": act.offlineAgents, "Denied certificate uses": act.deniedUses24h, "Failed sign-ins": act.failedLogin24,
	} {
		if got := cardValue(t, page, label); got != strconv.Itoa(want) {
			t.Errorf("card %q shows %s, want %d", label, got, want)
		}
	}
	if act.failedJobs == 0 || act.unread[model.SeverityError] == 0 {
		t.Fatalf("the generator made no failed job or unread ERROR alert: %+v", act)
	}
	// The event cards link to the page listing what they count.
	for _, label := range []string{"Denied certificate uses", "Failed sign-ins"} {
		href := cardHref(t, page, label)
		if got := env.countOnPage(model.RoleViewer, href); strconv.Itoa(got) != cardValue(t, page, label) {
			t.Errorf("card %q shows %s and links to %s, which lists %d", label, cardValue(t, page, label), href, got)
		}
	}
	for _, link := range []string{`href="/alerts?severity=ERROR&amp;unread=1"`, `href="/jobs?status=FAILED"`,
		`href="/certificates?expiring_within=7d"`, `href="/agents"`} {
		if !strings.Contains(page, link) {
			t.Errorf("no card links %s", link)
		}
	}
}

func TestDashboardAnswers(t *testing.T) {
	env := newTestEnv(t)
	t.Run("EmptyStates", func(t *testing.T) {
		code, page := env.dashboard(model.RoleAuditor, "")
		if code != 200 {
			t.Fatalf("%d", code)
		}
		for _, want := range []string{"No events in the last 24 hours", "No certificate was issued or renewed in the last 14 days", "No job failed in the last 14 days", "0/min"} {
			if !strings.Contains(page, want) {
				t.Errorf("empty dashboard lacks %q", want)
			}
		}
		if strings.Contains(page, "<svg") {
			t.Errorf("empty charts are drawn")
		}
	})
	t.Run("BadRange", func(t *testing.T) {
		resp := env.do(http.MethodGet, "/?range=1y", env.session(model.RoleAdmin), "", http.Header{"Accept": {"text/html"}})
		if body := readBody(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "range must be 24h or 7d") {
			t.Fatalf("range=1y: %d %.300s", resp.StatusCode, body)
		}
	})
	t.Run("RefreshIsTheBlockOnly", func(t *testing.T) {
		env.appendEvents(`{"type":"CERT_USED","outcome":"DENIED","message":"refresh"}`)
		resp := env.do(http.MethodGet, "/?range=7d", env.session(model.RoleViewer), "", http.Header{"Hx-Request": {"true"}})
		body := readBody(t, resp)
		if resp.StatusCode != 200 || strings.Contains(body, "<html") || !strings.HasPrefix(strings.TrimSpace(body), `<section id="dashboard"`) ||
			!strings.Contains(body, `hx-get="/?range=7d"`) || !strings.Contains(body, `data-count="1"`) {
			t.Fatalf("refresh answered %d: %.400s", resp.StatusCode, body)
		}
	})
	t.Run("ValuesAreEscaped", func(t *testing.T) {
		env.appendEvents(`{"category":"AUDIT_LOG","type":"ISSUANCE_COMPLETED","message":"<script>x</script>"}`)
		_, page := env.dashboard(model.RoleAdmin, "")
		if strings.Contains(page, "<script>x") {
			t.Fatal("unescaped text in the dashboard")
		}
	})
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{0, 2}, {1, 2}, {2, 2}, {3, 4}, {7, 8}, {9, 10}, {11, 20}, {59, 60}, {101, 200}, {4500, 6000}} {
		if got := niceCeil(tc.n); got != tc.want {
			t.Errorf("niceCeil(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// TestWatchListsTakeATimeRange checks the from and to filters that the
// dashboard's alert and job charts link with, and their bad input.
func TestWatchListsTakeATimeRange(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	env, clock := newDashboardEnv(t, Config{}, now)
	ctx := context.Background()
	for i, at := range []time.Time{now.Add(-48 * time.Hour), now.Add(-24*time.Hour - 500*time.Millisecond), now.Add(-24 * time.Hour), now} {
		clock.Set(at)
		if _, _, err := env.st.RaiseAlert(ctx, model.Alert{Severity: model.SeverityWarn, Type: model.AlertAgentOffline,
			Title: "offline", Message: "m", Key: fmt.Sprintf("k%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"from=2026-03-09T00:00:00Z&to=2026-03-09T23:59:59Z", 2},
		{"from=2026-03-09T12:00:00Z", 2},
		{"from=2026-03-09T11:59:59.6Z", 2},
		{"to=2026-03-09T11:59:59Z", 2},
		{"from=2026-03-08T00:00:00&to=2026-03-08T23:59:59", 1},
		{"", 4},
	} {
		if got := env.countOnPage(model.RoleViewer, "/alerts?"+tc.query); got != tc.want {
			t.Errorf("alerts?%s: %d, want %d", tc.query, got, tc.want)
		}
	}
	for _, q := range []string{"/api/v1/alerts?from=yesterday", "/api/v1/jobs?to=2026-13-01", "/api/v1/jobs?from=2026-03-02&to=2026-03-01"} {
		resp := env.do(http.MethodGet, q, env.session(model.RoleViewer), "", nil)
		if body := readBody(t, resp); resp.StatusCode != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
}
