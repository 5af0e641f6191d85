package store

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"vigil/model"
)

func TestEventTrend(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return from.Add(d).Format(time.RFC3339Nano) }
	var evs []model.Event
	for _, js := range []string{
		// bucket 0 (00:00–01:00): 2 USAGE, 1 AUTH
		fmt.Sprintf(`{"time":%q,"type":"CERT_USED"}`, at(0)),
		fmt.Sprintf(`{"time":%q,"type":"CERT_USED"}`, at(time.Hour-time.Nanosecond)),
		fmt.Sprintf(`{"time":%q,"category":"AUTH","type":"E_LOGIN_FAILED"}`, at(30*time.Minute)),
		// bucket 2: an issuance, a renewal, SYSTEM of the scheduler and of two users
		fmt.Sprintf(`{"time":%q,"category":"AUDIT_LOG","type":"ISSUANCE_COMPLETED"}`, at(2*time.Hour)),
		fmt.Sprintf(`{"time":%q,"category":"AUDIT_LOG","type":"RENEWAL_COMPLETED"}`, at(2*time.Hour+time.Minute)),
		fmt.Sprintf(`{"time":%q,"category":"SYSTEM","type":"E_SECTION_VISITED","actor":{"type":"SYSTEM","id":"scheduler"}}`, at(2*time.Hour)),
		fmt.Sprintf(`{"time":%q,"category":"SYSTEM","type":"E_SECTION_VISITED","actor":{"type":"USER","id":"olga"}}`, at(2*time.Hour)),
		fmt.Sprintf(`{"time":%q,"category":"SYSTEM","type":"E_SECTION_VISITED","actor":{"type":"USER","id":"ann"}}`, at(2*time.Hour)),
		// outside: just before and at the end
		fmt.Sprintf(`{"time":%q,"type":"CERT_USED"}`, at(-time.Nanosecond)),
		fmt.Sprintf(`{"time":%q,"type":"CERT_USED"}`, at(3*time.Hour)),
	} {
		evs = append(evs, ev(t, js))
	}
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	q := model.TrendQuery{From: from, Step: time.Hour, Buckets: 3, By: model.TrendByCategory}
	for _, tc := range []struct {
		name string
		vis  model.Visibility
		want map[int]map[string]int
	}{
		{"Admin", model.VisibilityFor(model.User{Role: model.RoleAdmin}), map[int]map[string]int{
			0: {"USAGE": 2, "AUTH": 1}, 2: {"AUDIT_LOG": 2, "SYSTEM": 3}}},
		{"OperatorSeesOwnAndSchedulerSystem", model.VisibilityFor(model.User{Role: model.RoleOperator, Name: "olga"}), map[int]map[string]int{
			0: {"USAGE": 2, "AUTH": 1}, 2: {"AUDIT_LOG": 2, "SYSTEM": 2}}},
		{"Viewer", model.VisibilityFor(model.User{Role: model.RoleViewer}), map[int]map[string]int{
			0: {"USAGE": 2, "AUTH": 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q.Visibility = tc.vis
			counts, err := s.EventTrend(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got := model.NewTrend(counts)
			if fmt.Sprint(got) != fmt.Sprint(model.Trend(tc.want)) {
				t.Fatalf("trend %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("ByTypeOfCategory", func(t *testing.T) {
		counts, err := s.EventTrend(ctx, model.TrendQuery{From: from, Step: 24 * time.Hour, Buckets: 1, By: model.TrendByType,
			Category: "AUDIT_LOG", Types: []string{"ISSUANCE_COMPLETED", "RENEWAL_COMPLETED", "RENEWAL_FAILED"},
			Visibility: model.VisibilityFor(model.User{Role: model.RoleAuditor})})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(model.NewTrend(counts)); got != "map[0:map[ISSUANCE_COMPLETED:1 RENEWAL_COMPLETED:1]]" {
			t.Fatalf("trend %s", got)
		}
	})
	t.Run("BadQuery", func(t *testing.T) {
		if _, err := s.EventTrend(ctx, model.TrendQuery{From: from, Step: time.Hour, Buckets: 2, By: "message"}); model.ErrorCode(err) != model.EINVALID {
			t.Fatalf("by message: %v", err)
		}
	})
}

func TestReceivedSince(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := openTest(t)
	if n, _, err := s.ReceivedSince(context.Background(), now); err != nil || n != 0 {
		t.Fatalf("empty database: %d %v", n, err)
	}
	// 10 events received each minute for 30 minutes.
	for m := range 30 {
		var evs []model.Event
		for i := range 10 {
			e := ev(t, fmt.Sprintf(`{"message":"m%d-%d"}`, m, i))
			e.ReceivedAt = now.Add(time.Duration(m) * time.Minute)
			evs = append(evs, e)
		}
		if _, err := s.AppendEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		since time.Duration
		want  int64
	}{{-time.Hour, 300}, {0, 300}, {time.Minute, 290}, {25 * time.Minute, 50}, {29 * time.Minute, 10}, {30 * time.Minute, 0}} {
		if n, _, err := s.ReceivedSince(context.Background(), now.Add(tc.since)); err != nil || n != tc.want {
			t.Errorf("ReceivedSince(now%+v) = %d, %v; want %d", tc.since, n, err, tc.want)
		}
	}
}

// BenchmarkDashboardQueries measures the dashboard's queries at the first
// of benchSizes (VIGIL_BENCH_ROWS, default 1,000,000) events spread over 30
// days: a 7-day and a 24-hour hourly trend by category and the ingest rate.
// It also reports the database's size per event (file and WAL, after a
// checkpoint).
func BenchmarkDashboardQueries(b *testing.B) {
	s := openTest(b)
	end := time.Now()
	rows := benchSizes(b)[0]
	fillBench(b, s, rows, end)
	ctx := context.Background()
	s.ix.waitFor(ctx, int64(rows))
	if _, err := s.wdb.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	if _, err := s.ix.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	var sizes [2]int64
	for i, p := range []string{s.Path(), ftsPath(s.Path())} {
		if fi, err := os.Stat(p); err == nil {
			sizes[i] = fi.Size()
		}
	}
	b.Logf("%d events: %d bytes of events, %d bytes of full-text index; %.0f bytes/event in all",
		rows, sizes[0], sizes[1], float64(sizes[0]+sizes[1])/float64(rows))
	day := q24(end)
	b.Run("Trend24hHourly", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.EventTrend(ctx, day); err != nil {
				b.Fatal(err)
			}
		}
	})
	q := model.TrendQuery{From: end.Add(-7 * 24 * time.Hour), Step: time.Hour, Buckets: 168, By: model.TrendByCategory,
		Visibility: model.VisibilityFor(model.User{Role: model.RoleOperator, Name: "olga"})}
	b.Run("Trend7dHourly", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.EventTrend(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReceivedSince5m", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := s.ReceivedSince(ctx, time.Now().Add(-5*time.Minute)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// q24 is the dashboard's 24-hour events chart query for an operator.
func q24(end time.Time) model.TrendQuery {
	return model.TrendQuery{From: end.Add(-24 * time.Hour), Step: time.Hour, Buckets: 24, By: model.TrendByCategory,
		Visibility: model.VisibilityFor(model.User{Role: model.RoleOperator, Name: "olga"})}
}
