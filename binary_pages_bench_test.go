package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	neturl "net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pageLoads is how many times each request is timed; p95 is the second
// slowest of them.
const pageLoads = 20

// pageRequest is one request BenchmarkBinary times on a filled store.
type pageRequest struct {
	key     string // short name, part of the reported unit
	path    string // with its query
	console bool   // a console page, loaded signed in; else the JSON API with a read token
}

// pageRequests lists what an auditor and an operator ask of a filled
// store of n events committed between start and start+took: the API's
// listings at every depth (newest, cursors, start indexes, past windows,
// one page from the oldest) and every console page, the dashboard over 24
// hours and 7 days included.
func pageRequests(n int, start time.Time, took time.Duration) []pageRequest {
	at := func(frac float64, d time.Duration) string {
		from := start.Add(time.Duration(frac * float64(took))).UTC()
		return "from=" + from.Format(time.RFC3339) + "&to=" + from.Add(d).Format(time.RFC3339)
	}
	return []pageRequest{
		{key: "api-newest", path: "/api/v1/events?limit=100"},
		{key: "api-before-half", path: fmt.Sprintf("/api/v1/events?before=%d&limit=100", n/2)},
		{key: "api-before-1000", path: "/api/v1/events?before=1000&limit=100"},
		{key: "api-oldest-page", path: "/api/v1/events?before=101&limit=100"},
		{key: "api-start-half", path: fmt.Sprintf("/api/v1/events?start=%d&limit=100", n/2)},
		{key: "api-start-95pct", path: fmt.Sprintf("/api/v1/events?start=%d&limit=100", n/20*19)},
		{key: "api-start-half-categories", path: fmt.Sprintf("/api/v1/events?category=USAGE,AUTH,ACCESS_CONTROL&start=%d&limit=100", n/2)},
		{key: "api-window-5s", path: "/api/v1/events?limit=100&" + at(0.4, 5*time.Second)},
		{key: "api-window-1m", path: "/api/v1/events?limit=100&" + at(0.2, time.Minute)},
		{key: "api-window-5s-user", path: "/api/v1/events?limit=100&user=svc-build&" + at(0.4, 5*time.Second)},
		{key: "api-text", path: "/api/v1/events?limit=100&q=codesign"},
		{key: "api-audit-log", path: "/api/v1/events?limit=100&category=AUDIT_LOG"},
		{key: "api-auth", path: "/api/v1/events?limit=100&category=AUTH"},
		{key: "api-type", path: "/api/v1/events?limit=100&type=ISSUANCE_COMPLETED"},
		{key: "api-outcome", path: "/api/v1/events?limit=100&outcome=FAILURE"},
		{key: "page-dashboard", path: "/", console: true},
		{key: "page-dashboard-7d", path: "/?range=7d", console: true},
		{key: "page-events", path: "/events", console: true},
		{key: "page-events-oldest", path: "/events?before=101", console: true},
		{key: "page-events-start-half", path: fmt.Sprintf("/events?start=%d", n/2), console: true},
		{key: "page-audit", path: "/audit", console: true},
		{key: "page-system", path: "/system", console: true},
		{key: "page-alerts", path: "/alerts", console: true},
		{key: "page-jobs", path: "/jobs", console: true},
		{key: "page-certificates", path: "/certificates", console: true},
		{key: "page-agents", path: "/agents", console: true},
		{key: "page-settings", path: "/settings", console: true},
	}
}

// pageFigures is what measurePages found.
type pageFigures struct {
	events  int                      // events stored when measured
	p95     map[string]time.Duration // by pageRequest key
	order   []string                 // the keys in pageRequests order
	dashCPU time.Duration            // vigil's CPU time per dashboard load
}

// measurePages adds a few hundred AUDIT_LOG and AUTH events to a filled
// store, as a busy day has among its USAGE events, waits until they are
// searchable, signs in as admin and times every pageRequest pageLoads
// times, reporting p95. It also reads the vigil process's CPU time around
// the dashboard's loads: the cost of one refresh of an open dashboard.
func measurePages(b *testing.B, f filled, n int) pageFigures {
	var batch bytes.Buffer
	types := []string{"ISSUANCE_COMPLETED", "RENEWAL_INITIATED", "REVOCATION_COMPLETED", "CSR_RECEIVED"}
	for i := 0; i < 300; i++ {
		outcome := "SUCCESS"
		if i%7 == 0 {
			outcome = "FAILURE"
		}
		fmt.Fprintf(&batch, `{"event_id":"pages-audit-%d","category":"AUDIT_LOG","type":%q,"outcome":%q,"actor":{"type":"USER","id":"ca-admin"},"entity":{"type":"CERTIFICATE","id":"cert-%d"},"message":"certificate %d handled"}`+"\n", i, types[i%len(types)], outcome, i, i)
		login := "E_LOGIN"
		if outcome == "FAILURE" {
			login = "E_LOGIN_FAILED"
		}
		fmt.Fprintf(&batch, `{"event_id":"pages-auth-%d","category":"AUTH","type":%q,"outcome":%q,"actor":{"type":"USER","id":"operator-%d"},"message":"sign-in"}`+"\n", i, login, outcome, i%12)
	}
	req, _ := http.NewRequest("POST", f.p.url+"/api/v1/events", &batch)
	req.Header.Set("Authorization", "Bearer "+f.ingest)
	req.Header.Set("Content-Type", "application/x-ndjson")
	if code, body := do(b, http.DefaultClient, req); code != http.StatusAccepted {
		b.Fatalf("AUDIT_LOG and AUTH batch: %d %s", code, body)
	}
	f.waitSearchable(b)

	jar, _ := cookiejar.New(nil)
	console := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login, _ := http.NewRequest("POST", f.p.url+"/login", strings.NewReader(neturl.Values{"username": {"admin"}, "password": {crashAdminPassword}}.Encode()))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, body := do(b, console, login); code != http.StatusSeeOther && code != http.StatusFound {
		b.Fatalf("sign-in: %d %s", code, body)
	}

	figs := pageFigures{events: f.lastID(b), p95: map[string]time.Duration{}}
	for _, r := range pageRequests(n, f.start, f.durable) {
		get := func() {
			req, _ := http.NewRequest("GET", f.p.url+r.path, nil)
			client := console
			if !r.console {
				client = http.DefaultClient
				req.Header.Set("Authorization", "Bearer "+f.read)
			}
			if code, body := do(b, client, req); code != http.StatusOK {
				b.Fatalf("%s: %d %.300s", r.path, code, body)
			}
		}
		get() // the first load may warm caches; a user's refresh finds them warm
		var cpu0 time.Duration
		if r.key == "page-dashboard" {
			cpu0 = processCPU(b, f.p.cmd.Process.Pid)
		}
		times := make([]time.Duration, pageLoads)
		for i := range times {
			t0 := time.Now()
			get()
			times[i] = time.Since(t0)
		}
		if r.key == "page-dashboard" {
			figs.dashCPU = (processCPU(b, f.p.cmd.Process.Pid) - cpu0) / pageLoads
		}
		slices.Sort(times)
		figs.p95[r.key] = times[pageLoads*95/100-1]
		figs.order = append(figs.order, r.key)
	}
	return figs
}

// report adds figs to b's metrics, each unit naming the store size.
func (figs pageFigures) report(b *testing.B, size string) {
	for _, k := range figs.order {
		b.ReportMetric(float64(figs.p95[k].Microseconds())/1000, "p95-ms:"+k+"@"+size)
	}
	b.ReportMetric(float64(figs.dashCPU.Microseconds())/1000, "dashboard-cpu-ms@"+size)
	b.ReportMetric(float64(figs.events), "events@"+size)
}

func (figs pageFigures) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "at %d events, p95 of %d loads:", figs.events, pageLoads)
	for _, k := range figs.order {
		fmt.Fprintf(&s, " %s %.1f ms;", k, float64(figs.p95[k].Microseconds())/1000)
	}
	fmt.Fprintf(&s, " dashboard CPU %.1f ms per load", float64(figs.dashCPU.Microseconds())/1000)
	return s.String()
}

// do sends req and returns the status and the body read whole.
func do(b *testing.B, c *http.Client, req *http.Request) (int, string) {
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// processCPU reads the user and system CPU time of process pid.
func processCPU(b *testing.B, pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name, which is in parentheses: utime
	// and stime are the 12th and 13th of them, in clock ticks (100 Hz).
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	var ticks int64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
