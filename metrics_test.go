package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

	"vigil/internal/testpki"
)

// scrape GETs a /metrics URL (with token, if any) and parses it with
// Prometheus's own text parser.
func scrape(t testing.TB, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: Content-Type %q, want the text format", url, ct)
	}
	p := expfmt.NewTextParser(pmodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// metricValue returns the value of the series of family name whose labels
// include labels (name=value pairs); a histogram gives its count. A series
// that does not exist is 0, so counters that start at their first
// increment read as 0 before it.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

// TestMetricsMoveWithIngest runs serve with syslog listeners and a separate
// --metrics-listen, scrapes /metrics before and after intake over HTTP, UDP
// and TCP, and checks that every intake, writer, database and HTTP series
// moved by what was sent. It also checks /metrics on the API address needs
// a read token.
func TestMetricsMoveWithIngest(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	addrs, stop := serveArgs(t, "--data", dir, "--http", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
		"--syslog-udp", "127.0.0.1:0", "--syslog-tcp", "127.0.0.1:0", "--cron-agents", "@every 1s")
	defer stop()
	api, open := "http://"+addrs["http"], "http://"+addrs["metrics"]+"/metrics"
	token := func(name, scope string) string {
		code, out, errOut := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", name, "--scope", scope)
		if code != 0 {
			t.Fatalf("token create: %s", errOut)
		}
		return strings.TrimSpace(out)
	}
	ingest, read, manage := token("agent", "ingest"), token("prometheus", "read"), token("admin-api", "manage")

	t.Run("AccessOnAPIAddress", func(t *testing.T) {
		for _, tc := range []struct {
			name, token string
			want        int
		}{{"NoToken", "", 401}, {"IngestToken", ingest, 403}, {"ReadToken", read, 200}} {
			t.Run(tc.name, func(t *testing.T) {
				if code, body := request(t, "GET", api+"/metrics", tc.token, ""); code != tc.want {
					t.Fatalf("GET /metrics: %d %.200s", code, body)
				}
			})
		}
		if code, _ := request(t, "GET", "http://"+addrs["metrics"]+"/api/v1/events", "", ""); code != 404 {
			t.Fatalf("the metrics listener serves more than /metrics: %d", code)
		}
	})

	before := scrape(t, open, "")

	// Intake: 40 events over HTTP, one refused batch of 3, 25 syslog
	// messages over TCP (one of them not syslog at all) and 10 over UDP.
	var lines []string
	for i := range 40 {
		lines = append(lines, fmt.Sprintf(`{"type":"CERT_USED","message":"metrics %d"}`, i))
	}
	if code, body := request(t, "POST", api+"/api/v1/events", ingest, strings.Join(lines, "\n")); code != 202 {
		t.Fatalf("post: %d %s", code, body)
	}
	if code, _ := request(t, "POST", api+"/api/v1/events", ingest, `[{"type":"A"},{"category":"NOPE"},{"outcome":"MAYBE"}]`); code != 400 {
		t.Fatalf("bad batch: %d", code)
	}
	tcp, err := net.Dial("tcp", addrs["syslog-tcp"])
	if err != nil {
		t.Fatal(err)
	}
	for i := range 24 {
		msg := fmt.Sprintf("<134>1 2026-01-02T03:04:05Z host app - CERT_USED - tcp %d", i)
		fmt.Fprintf(tcp, "%d %s", len(msg), msg)
	}
	fmt.Fprintf(tcp, "%d %s", len("not syslog"), "not syslog")
	tcp.Close()
	udp, err := net.Dial("udp", addrs["syslog-udp"])
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		fmt.Fprintf(udp, "<134>1 2026-01-02T03:04:05Z host app - CERT_USED - udp %d", i)
	}
	udp.Close()

	// The certificate watch: a certificate expiring in 5 days.
	ca := testpki.NewCA(t)
	cert := ca.Issue(t, "soon.example.net", []string{"soon.example.net"}, time.Now().Add(-time.Hour), time.Now().Add(5*24*time.Hour))
	if code, body := request(t, "POST", api+"/api/v1/certificates", manage, cert.PEM); code != 201 && code != 200 {
		t.Fatalf("upload certificate: %d %s", code, body)
	}

	var after map[string]*dto.MetricFamily
	delta := func(name string, labels ...string) float64 {
		return metricValue(after, name, labels...) - metricValue(before, name, labels...)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		after = scrape(t, open, "")
		if delta("vigil_syslog_stored_total", "listener", "tcp") == 25 && delta("vigil_syslog_stored_total", "listener", "udp") == 10 &&
			delta("vigil_scheduler_runs_total", "check", "agents") >= 1 && metricValue(after, "vigil_fts_lag_events") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("syslog stored: tcp +%v udp +%v; fts lag %v", delta("vigil_syslog_stored_total", "listener", "tcp"),
				delta("vigil_syslog_stored_total", "listener", "udp"), metricValue(after, "vigil_fts_lag_events"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vigil_ingest_received_total", []string{"source", "http"}, 43},
		{"vigil_ingest_rejected_total", []string{"source", "http", "reason", "invalid"}, 2},
		{"vigil_events_stored_total", []string{"source", "http"}, 40},
		{"vigil_syslog_received_total", []string{"listener", "tcp"}, 25},
		{"vigil_syslog_received_total", []string{"listener", "udp"}, 10},
		{"vigil_syslog_unparsed_total", []string{"listener", "tcp"}, 1},
		{"vigil_events_stored_total", []string{"source", "syslog-tcp"}, 25},
		{"vigil_events_stored_total", []string{"source", "syslog-udp"}, 10},
		{"vigil_syslog_dropped_total", nil, 0},
		{"vigil_certificates_expiring", []string{"within", "7d"}, 1},
		{"vigil_certificates_expiring", []string{"within", "30d"}, 1},
		{"vigil_certificates_expiring", []string{"within", "expired"}, 0},
		{"vigil_scheduler_failures_total", []string{"check", "agents"}, 0},
		{"vigil_http_request_seconds", []string{"route", "/api/v1/events", "method", "POST", "code", "2xx"}, 1},
		{"vigil_http_request_seconds", []string{"route", "/api/v1/events", "method", "POST", "code", "4xx"}, 1},
	} {
		if got := delta(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := delta("vigil_writer_batch_events"); n < 1 || n > 36 {
		t.Errorf("writer batches: +%v for 75 events in 36 appends", n)
	}
	if n := delta("vigil_writer_commit_seconds"); n != delta("vigil_writer_batch_events") {
		t.Errorf("commit latency observed %v times for %v batches", n, delta("vigil_writer_batch_events"))
	}
	if size := metricValue(after, "vigil_database_bytes"); size <= metricValue(before, "vigil_database_bytes") {
		t.Errorf("database size %v after intake, %v before", size, metricValue(before, "vigil_database_bytes"))
	}
	if delta("vigil_fts_indexed_total") < 75 {
		t.Errorf("full-text index took %v events", delta("vigil_fts_indexed_total"))
	}
	// Intake, upload and scheduler runs are events too.
	if n := delta("vigil_events_last_id"); n < 75 {
		t.Errorf("vigil_events_last_id moved by %v, want at least 75", n)
	}
	if n := delta("vigil_scheduler_run_seconds", "check", "agents"); n < 1 {
		t.Errorf("no duration observed for the agents check")
	}
	for _, name := range []string{"vigil_writer_queue_depth", "vigil_storage_writable", "go_goroutines", "process_resident_memory_bytes",
		"vigil_alerts_open", "vigil_jobs", "vigil_scheduler_skipped_total"} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
}
