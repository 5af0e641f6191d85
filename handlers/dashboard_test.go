package handlers

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/model"
)

// generateActivity stores a week of varied, deterministic activity ending
// at now, as agents and Vigil's jobs would record it: certificate uses
// (some denied), sign-ins (some failed), access checks, issuance, renewal
// and failed jobs in the audit log, and console activity of two users and
// the scheduler. It returns how many events it stored.
func generateActivity(env *testEnv, now time.Time) int {
	env.t.Helper()
	rng := rand.New(rand.NewPCG(8, 8))
	users := []string{"alice", "bob", "carol", "dave", "erin"}
	var objs []string
	at := func(maxAgo time.Duration) string {
		return now.Add(-time.Duration(rng.Int64N(int64(maxAgo)))).UTC().Format(time.RFC3339Nano)
	}
	for range 420 {
		outcome := "ALLOWED"
		if rng.IntN(6) == 0 {
			outcome = "DENIED"
		}
		u := users[rng.IntN(len(users))]
		objs = append(objs, fmt.Sprintf(`{"time":%q,"type":"CERT_USED","outcome":%q,"actor":{"type":"USER","id":%q},"agent_id":"agent-%02d","policy":"code-signing","certificate":{"serial":"4F:%02X"},"message":"signtool used build-signing"}`,
			at(7*24*time.Hour), outcome, u, rng.IntN(8), rng.IntN(200)))
	}
	for range 110 {
		typ, outcome := "E_LOGIN_SUCCEEDED", "SUCCESS"
		if rng.IntN(4) == 0 {
			typ, outcome = "E_LOGIN_FAILED", "FAILURE"
		}
		objs = append(objs, fmt.Sprintf(`{"time":%q,"category":"AUTH","type":%q,"outcome":%q,"actor":{"type":"USER","id":%q},"message":"sign-in"}`,
			at(7*24*time.Hour), typ, outcome, users[rng.IntN(len(users))]))
	}
	for range 150 {
		objs = append(objs, fmt.Sprintf(`{"time":%q,"category":"ACCESS_CONTROL","type":"ACCESS_CHECK","outcome":"ALLOWED","actor":{"type":"USER","id":%q},"message":"authorization check"}`,
			at(7*24*time.Hour), users[rng.IntN(len(users))]))
	}
	// The audit log over two weeks: issuance and renewal most days, a few
	// failed jobs.
	for day := range 14 {
		for range rng.IntN(5) {
			objs = append(objs, fmt.Sprintf(`{"time":%q,"category":"AUDIT_LOG","type":"ISSUANCE_COMPLETED","outcome":"SUCCESS","actor":{"type":"AGENT","id":"agent-01"},"entity":{"type":"CERTIFICATE","id":"%d"},"message":"certificate issued"}`,
				now.Add(-time.Duration(day)*24*time.Hour-time.Duration(rng.IntN(3600))*time.Second).UTC().Format(time.RFC3339Nano), rng.IntN(1000)))
		}
		for range rng.IntN(4) {
			objs = append(objs, fmt.Sprintf(`{"time":%q,"category":"AUDIT_LOG","type":"RENEWAL_COMPLETED","outcome":"SUCCESS","actor":{"type":"SYSTEM","id":"scheduler"},"entity":{"type":"JOB","id":"%d"},"message":"renewal completed"}`,
				now.Add(-time.Duration(day)*24*time.Hour-time.Duration(rng.IntN(3600))*time.Second).UTC().Format(time.RFC3339Nano), rng.IntN(1000)))
		}
		if day%3 == 1 {
			typ := []string{"RENEWAL_FAILED", "ISSUANCE_FAILED", "DEPLOYMENT_VALIDATION_FAILED"}[day%3+rng.IntN(2)]
			objs = append(objs, fmt.Sprintf(`{"time":%q,"category":"AUDIT_LOG","type":%q,"outcome":"FAILURE","actor":{"type":"SYSTEM","id":"scheduler"},"entity":{"type":"JOB","id":"%d"},"message":"job failed"}`,
				now.Add(-time.Duration(day)*24*time.Hour-time.Duration(rng.IntN(3600))*time.Second).UTC().Format(time.RFC3339Nano), typ, day))
		}
	}
	for i := range 60 {
		actor := []string{`{"type":"USER","id":"admin"}`, `{"type":"USER","id":"operator"}`, `{"type":"SYSTEM","id":"scheduler"}`}[i%3]
		objs = append(objs, fmt.Sprintf(`{"time":%q,"category":"SYSTEM","type":"E_SECTION_VISITED","outcome":"INFO","actor":%s,"message":"console activity"}`,
			at(24*time.Hour), actor))
	}
	env.appendEvents(objs...)
	return len(objs)
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
	if q.Get("category") == "" {
		q.Set("category", strings.Join(logPages[u.Path].Categories, ","))
	}
	q.Set("limit", "1000")
	resp := env.do(http.MethodGet, "/api/v1/events?"+q.Encode(), env.session(role), "", nil)
	var page struct{ Events []json.RawMessage }
	if err := json.Unmarshal([]byte(readBody(env.t, resp)), &page); err != nil || resp.StatusCode != 200 {
		env.t.Fatalf("GET events for %s: %d %v", link, resp.StatusCode, err)
	}
	return len(page.Events)
}

// TestDashboardChartsMatchPages checks every segment of every chart, for
// each role: it links to a page the role may open, and that page lists
// exactly as many events as the segment counts.
func TestDashboardChartsMatchPages(t *testing.T) {
	env := newConsoleEnv(t, Config{})
	now := time.Now().UTC()
	env.srv.now = func() time.Time { return now }
	generateActivity(env, now)
	for _, tc := range []struct {
		role       string
		ranges     []string
		wantCharts []string
		notCharts  []string
	}{
		{model.RoleAdmin, []string{"", "?range=7d"}, []string{"chart-events", "chart-lifecycle", "chart-job-failures"}, nil},
		{model.RoleOperator, []string{""}, []string{"chart-events", "chart-lifecycle", "chart-job-failures"}, nil},
		{model.RoleViewer, []string{"?range=7d"}, []string{"chart-events"}, []string{"chart-lifecycle", "chart-job-failures", "/audit?", "/system?", "AUDIT_LOG", ">SYSTEM"}},
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

func TestDashboardAnswers(t *testing.T) {
	env := newConsoleEnv(t, Config{})
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
