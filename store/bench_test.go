package store

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/model"
)

// benchSizes are the sizes of the query benchmark's databases, from
// VIGIL_BENCH_ROWS: one number or several separated by commas (make bench:
// 1000000,10000000). The default is 1,000,000.
func benchSizes(tb testing.TB) []int {
	v := os.Getenv("VIGIL_BENCH_ROWS")
	if v == "" {
		return []int{1_000_000}
	}
	var sizes []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			tb.Fatalf("VIGIL_BENCH_ROWS=%q: want positive numbers separated by commas", v)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// fillBench appends n varied events spread over 30 days ending at end:
// a tenth are AUTH logins, a fifth ACCESS_CONTROL checks, the rest USAGE,
// AUDIT_LOG and SYSTEM; one in 100,000 mentions "zanzibar".
func fillBench(tb testing.TB, s *Store, n int, end time.Time) {
	tb.Helper()
	ctx := context.Background()
	start := end.Add(-30 * 24 * time.Hour)
	step := (30 * 24 * time.Hour) / time.Duration(n)
	const batch = 5000
	for i := 0; i < n; i += batch {
		evs := make([]model.Event, 0, batch)
		for j := i; j < i+batch && j < n; j++ {
			e := benchEventAt(j, start.Add(time.Duration(j)*step))
			if err := e.Normalize(end); err != nil {
				tb.Fatal(err)
			}
			evs = append(evs, e)
		}
		if _, err := s.AppendEvents(ctx, evs); err != nil {
			tb.Fatal(err)
		}
	}
}

var (
	benchCats  = []string{"USAGE", "AUTH", "ACCESS_CONTROL", "ACCESS_CONTROL", "USAGE", "AUDIT_LOG", "USAGE", "USAGE", "SYSTEM", "USAGE"}
	benchTypes = map[string]string{"USAGE": "CERT_USED", "AUTH": "E_LOGIN_FAILED", "ACCESS_CONTROL": "ACCESS_CHECK", "AUDIT_LOG": "RENEWAL_INITIATED", "SYSTEM": "E_REPORT_GENERATED"}
)

// benchEventAt returns the j-th generated event, at time t (not normalized).
func benchEventAt(j int, t time.Time) model.Event {
	cat := benchCats[j%len(benchCats)]
	msg := fmt.Sprintf("certificate %08X used by process signtool.exe for build %d", j*7919, j)
	if j%100_000 == 77 {
		msg += " zanzibar"
	}
	return model.Event{
		Time: t, Category: cat, Type: benchTypes[cat],
		Outcome: []string{"ALLOWED", "DENIED", "SUCCESS"}[j%3], Source: benchSource(j, cat),
		Actor:       model.Actor{Type: "USER", ID: fmt.Sprintf("user%d", j%500), IP: fmt.Sprintf("10.0.%d.%d", j%200, j%250)},
		Certificate: model.CertRef{Serial: fmt.Sprintf("%08X", j*7919), Subject: fmt.Sprintf("CN=svc-%d,O=Example", j%1000)},
		AgentID:     fmt.Sprintf("agent-%d", j%50), Policy: "code-signing", Message: msg,
	}
}

// benchSource is the source of the j-th generated event: SYSTEM events are
// Vigil's own, one in seven of the others is posted over HTTP and the rest
// come in over syslog TCP.
func benchSource(j int, cat string) string {
	switch {
	case cat == model.CategorySystem:
		return model.SourceInternal
	case j%7 == 0:
		return model.SourceHTTP
	}
	return model.SourceSyslogTCP
}

// benchEvent returns the j-th generated event, normalized, at time end.
func benchEvent(j int, end time.Time) model.Event {
	e := benchEventAt(j, end)
	if err := e.Normalize(end); err != nil {
		panic(err)
	}
	return e
}

// BenchmarkQueries measures reads at each of benchSizes: a database of
// that many events, filled through the store's writer (Fill reports its
// rate), is streamed whole as the CSV export reads it (ExportAll: rows/s
// and the heap in use after it), then each query runs 200 times through
// FindEvents, as the API runs it, with p50 and p95 reported in ms.
// Sub-benchmarks are named rows=N/Query.
func BenchmarkQueries(b *testing.B) {
	for _, rows := range benchSizes(b) {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) { benchQueries(b, rows) })
	}
}

// BenchmarkQueriesPostgres is BenchmarkQueries with the store on
// PostgreSQL (a server of internal/pgtest, started for the package).
func BenchmarkQueriesPostgres(b *testing.B) {
	b.Setenv("VIGIL_TEST_STORE", "postgres")
	BenchmarkQueries(b)
}

func benchQueries(b *testing.B, rows int) {
	s, err := Open(context.Background(), testDB(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Now()
	fillBench(b, s, rows, end)
	took := time.Since(t0)
	fillRate := float64(rows) / took.Seconds()
	b.Logf("filled %d rows in %s (%.0f rows/s)", rows, took.Round(time.Millisecond), fillRate)
	// Measure reads on a quiet store: the full-text index caught up.
	for s.IndexLag() > 0 {
		s.ix.waitFor(context.Background(), int64(rows))
	}
	if err := s.eng.optimize(context.Background(), s.wdb); err != nil {
		b.Fatal(err)
	}
	b.Run("Fill", func(b *testing.B) {
		// The fill above: rows, chain, Merkle tree and indexes committed
		// by the writer, the full text indexed beside it.
		b.ReportMetric(fillRate, "rows/s")
		// Time the writer was held at the full-text lag bound.
		b.ReportMetric(time.Duration(s.writer.indexWait.Load()).Seconds(), "index-wait-s")
	})
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	viewer := model.VisibilityFor(model.User{Role: model.RoleViewer})
	cases := []struct {
		name  string
		query string
		vis   model.Visibility
	}{
		{"Newest100", "", admin},
		{"Newest100Viewer", "", viewer},
		{"HideAccessControl", "hide_access_control=1", admin},
		{"FTSRare", "q=zanzibar", admin},
		{"FTSCommon", "q=signtool", admin},
		{"FTSTwoWords", "q=build+signtool", admin},
		{"FTSPrefix", "q=sign*", admin},
		{"FTSAndCategory", "q=signtool&category=AUTH", admin},
		{"Type", "type=E_LOGIN_FAILED", admin},
		{"Category", "category=AUDIT_LOG", admin},
		{"Outcome", "outcome=DENIED", admin},
		{"Actor", "actor=user7", admin},
		{"Agent", "agent_id=agent-9", admin},
		{"ActorAndType", "actor=user7&type=E_LOGIN_FAILED", admin},
		{"LastDay", "from=2026-10-31T00:00:00Z", admin},
		{"OneHourLastWeek", "from=2026-10-24T10:00:00Z&to=2026-10-24T11:00:00Z", admin},
		{"OneDayLastWeek", "from=2026-10-24T00:00:00Z&to=2026-10-25T00:00:00Z", admin},
		{"DeepCursor", "before=" + strconv.Itoa(rows/2), admin},
		{"DeepCursorFTS", "q=signtool&before=" + strconv.Itoa(rows/2), admin},
	}
	ctx := context.Background()
	b.Run("ExportAll", func(b *testing.B) {
		// The whole store streamed newest first, as the CSV export reads it.
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		n, err := s.ExportEvents(ctx, model.EventFilter{Visibility: admin}, func(*model.Event) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "rows/s")
		b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-MiB")
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			q, _ := url.ParseQuery(c.query)
			f, err := model.ParseEventFilter(q)
			if err != nil {
				b.Fatal(err)
			}
			f.Visibility = c.vis
			var lat []time.Duration
			var got int
			for n := 0; n < b.N; n++ {
				for i := 0; i < 200; i++ {
					t := time.Now()
					found, err := s.FindEvents(ctx, f)
					evs := found.Events
					if err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t))
					got = len(evs)
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*95/100]), "p95-ms")
			b.ReportMetric(float64(got), "rows")
		})
	}
}
