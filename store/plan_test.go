package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"vigil/internal/syncbuf"

	"vigil/model"
)

// TestQueryPlans guards the hot listings: none may sort its result in a
// temporary B-tree (which reads every match before returning the newest),
// and each must use the access path it was designed for.
func TestQueryPlans(t *testing.T) {
	// Statistics taken when the events table was nearly empty (PRAGMA
	// optimize as a command closes the store) must not change the plans.
	for _, stale := range []bool{false, true} {
		name := "FreshStatistics"
		if stale {
			name = "StaleStatistics"
		}
		t.Run(name, func(t *testing.T) { checkQueryPlans(t, stale) })
	}
}

func checkQueryPlans(t *testing.T, staleStats bool) {
	ctx := context.Background()
	end := time.Now()
	var evs []model.Event
	for j := 0; j < timeIndexProbe+1000; j++ {
		evs = append(evs, benchEvent(j, end))
	}
	path := filepath.Join(t.TempDir(), "vigil.db")
	open := func() *Store {
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	if staleStats {
		// As after "vigil token create" on a new store: two events, then
		// the store closes (and runs PRAGMA optimize).
		if _, err := s.AppendEvents(ctx, evs[:2]); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = open()
		evs = evs[2:]
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if !staleStats {
		s.wdb.Exec(`ANALYZE`)
	}
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	viewer := model.VisibilityFor(model.User{Role: model.RoleViewer})
	cases := []struct {
		name, query string
		vis         model.Visibility
		want        string // a fragment the plan must contain
		sorts       bool   // a sort is allowed: at most timeIndexProbe rows
	}{
		{"Newest", "", admin, "SCAN e", false},
		{"NewestViewer", "", viewer, "SCAN e", false},
		{"HideAccessControl", "hide_access_control=1", admin, "SCAN e", false},
		{"Cursor", "before=1000", admin, "SEARCH e USING INTEGER PRIMARY KEY (rowid<?)", false},
		{"LiveTail", "after=5990", admin, "SEARCH e USING INTEGER PRIMARY KEY (rowid>?)", false},
		{"FullText", "q=signtool", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"FullTextCursor", "q=signtool&before=1000", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"Type", "type=E_LOGIN_FAILED", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"Actor", "actor=user7", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"Agent", "agent_id=agent-3", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"Tenant", "tenant=acme", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"Category", "category=AUTH", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"RareCategory", "category=AUDIT_LOG", admin, "SCAN e USING INDEX events_category_audit_log", false},
		{"RareCategoryCursor", "category=SYSTEM&before=1000", admin, "SEARCH e USING INDEX events_category_system (id<?)", false},
		{"Categories", "category=AUDIT_LOG,AUTH", admin, "SCAN e", false},
		{"Outcome", "outcome=DENIED", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"Source", "source=http", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"Sources", "source=syslog-udp,syslog-tcp,syslog-tls", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"SourceViewer", "source=syslog-tcp", viewer, "SCAN f VIRTUAL TABLE INDEX", false},
		{"SourceOnEventsPage", "source=http&category=USAGE,AUTH,ACCESS_CONTROL&hide_access_control=1", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"SourceOnSystemPage", "source=internal&category=SYSTEM", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"SourceCursor", "source=internal&before=1000", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"SourceNarrowTimeRange", "source=http&from=2030-01-01T00:00:00Z", admin, "SCAN f VIRTUAL TABLE INDEX", false},
		{"WideTimeRange", "from=2000-01-01T00:00:00Z", admin, "SCAN e", false},
		{"NarrowTimeRange", "from=2030-01-01T00:00:00Z", admin, "USING INDEX events_time", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { assertPlan(t, s, c.query, c.vis, c.want, c.sorts) })
	}
}

// TestPastTimeWindow lists a window in the past holding more events than
// the time index is used for: the listing starts at the newest event in the
// window and returns exactly its events, newest first, page by page.
func TestPastTimeWindow(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []model.Event
	for j := 0; j < 14000; j++ {
		evs = append(evs, benchEvent(j, start.Add(time.Duration(j)*time.Minute)))
		evs[j].Time = start.Add(time.Duration(j) * time.Minute)
	}
	// A late, backdated event: its id is the largest but its time is inside
	// the window.
	late := benchEvent(99, start)
	late.Time = start.Add(5000 * time.Minute)
	evs = append(evs, late)
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	from, to := start.Add(2000*time.Minute), start.Add(8999*time.Minute) // 7,000 events
	want := []int64{14001}
	for id := int64(9000); id >= 2001; id-- {
		want = append(want, id)
	}
	f := model.EventFilter{From: from, To: to, Limit: 1000, Visibility: model.VisibilityFor(model.User{Role: model.RoleAdmin})}
	var got []int64
	for {
		found, err := s.FindEvents(ctx, f)
		page, next := found.Events, found.Next
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			got = append(got, e.ID)
		}
		if next == 0 {
			break
		}
		f.Before = next
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d is %d, want %d", i, got[i], want[i])
		}
	}
}

// TestSlowListingLogged: a listing over slowQuery is logged with its SQL
// and plan; a quick one is not.
func TestSlowListingLogged(t *testing.T) {
	sqliteOnly(t, "logs SQLite's query plan")
	var logs syncbuf.Buffer
	s, err := Open(context.Background(), testDB(t),
		Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	q, args, err := s.eventQuery(ctx, model.EventFilter{Q: "signtool", Visibility: model.VisibilityFor(model.User{Role: model.RoleAdmin})})
	if err != nil {
		t.Fatal(err)
	}
	s.logSlowQuery(ctx, time.Now(), q, args)
	if strings.Contains(logs.String(), "slow event listing") {
		t.Fatalf("a quick listing was logged:\n%s", logs.String())
	}
	s.logSlowQuery(ctx, time.Now().Add(-2*slowQuery), q, args)
	for _, want := range []string{"slow event listing", "events_fts MATCH", "SCAN f VIRTUAL TABLE"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("slow listing log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestDeepListingPlans reproduces how a real install gets its statistics:
// a command (vigil token create, user add) closes the store while events
// holds two rows, and PRAGMA optimize used to record events_time as "2 1".
// With those numbers SQLite scanned every event for a deep cursor, a start
// index or a window in the past. Each must keep its access path.
func TestDeepListingPlans(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.db")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []model.Event
	for j := 0; j < 20000; j++ {
		e := benchEvent(j, start.Add(time.Duration(j)*10*time.Second))
		e.Time = start.Add(time.Duration(j) * 10 * time.Second)
		evs = append(evs, e)
	}
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(ctx, evs[:2]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.AppendEvents(ctx, evs[2:]); err != nil {
		t.Fatal(err)
	}
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	const pk = "SEARCH e USING INTEGER PRIMARY KEY (rowid<?)"
	// a window in the past, bounded by the blocks of ids that hold it
	const pkRange = "SEARCH e USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"
	const fts = "SCAN f VIRTUAL TABLE INDEX"
	type listing struct {
		name, query, want string
		sorts             bool // a sort is allowed: at most timeIndexProbe rows
	}
	cases := []listing{
		{"DeepCursor", "before=1000", pk, false},
		{"CursorHalfway", "before=10000", pk, false},
		{"CursorAtOldest", "before=3", pk, false},
		{"StartIndex", "start=15000", pk, false},
		{"StartIndexBelowCursor", "before=10000&start=5000", pk, false},
	}
	// Windows at depth: events are 10 s apart, the store spans 55 hours.
	window := func(from time.Time, d time.Duration) string {
		return "from=" + from.Format(time.RFC3339) + "&to=" + from.Add(d).Format(time.RFC3339)
	}
	deep := start.Add(5 * time.Hour)
	for _, w := range []struct {
		name  string
		query string
		want  string
	}{
		{"Minute", window(deep, time.Minute), "USING INDEX events_time"},
		{"Hour", window(deep, time.Hour), "USING INDEX events_time"},
		{"Day", window(deep, 24*time.Hour), pkRange},
		{"Week", window(start.Add(-6*24*time.Hour), 7*24*time.Hour), pkRange},
	} {
		cases = append(cases,
			listing{"PastWindow" + w.name, w.query, w.want, w.want != pkRange},
			listing{"PastWindow" + w.name + "Cursor", w.query + "&before=1500", w.want, w.want != pkRange},
			listing{"PastWindow" + w.name + "Text", w.query + "&q=signtool", fts, false},
			listing{"PastWindow" + w.name + "Type", w.query + "&type=CERT_USED", fts, false},
			listing{"PastWindow" + w.name + "Categories", w.query + "&category=USAGE,AUTH", w.want, w.want != pkRange})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { assertPlan(t, s, c.query, admin, c.want, c.sorts) })
	}
}

// assertPlan checks the plan of the listing of query (URL parameters) for
// vis: it contains want, and sorts in a temporary B-tree only if sorts.
func assertPlan(t *testing.T, s *Store, query string, vis model.Visibility, want string, sorts bool) {
	t.Helper()
	q, _ := url.ParseQuery(query)
	f, err := model.ParseEventFilter(q)
	if err != nil {
		t.Fatal(err)
	}
	f.Visibility = vis
	text := listingPlan(t, s, f)
	if strings.Contains(text, "TEMP B-TREE") && !sorts {
		t.Errorf("plan sorts in a temporary B-tree: %s", text)
	}
	if !strings.Contains(text, want) {
		t.Errorf("plan %q lacks %q", text, want)
	}
}

// listingPlan returns the plan of the page query FindEvents runs for f.
func listingPlan(t *testing.T, s *Store, f model.EventFilter) string {
	t.Helper()
	ctx := context.Background()
	sqlText, args, err := s.pageQuery(ctx, f, 101)
	if err != nil {
		t.Fatal(err)
	}
	text, err := s.queryPlan(ctx, sqlText, args)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// TestStartIndexMatchesOffset: an unfiltered start index read as an id
// bound lists exactly what skipping that many rows lists, on stores whose
// ids have a removed prefix, redacted rows, and holes left by retention of
// an older version.
func TestStartIndexMatchesOffset(t *testing.T) {
	ctx := context.Background()
	t.Run("RemovedPrefixAndRedacted", func(t *testing.T) {
		s, p := retentionFixture(t)
		if res, err := s.ApplyRetention(ctx, p); err != nil || res.Removed == 0 || res.Redacted == 0 {
			t.Fatalf("retention: %+v %v", res, err)
		}
		checkStartIndex(t, s)
	})
	t.Run("LegacyHoles", func(t *testing.T) {
		s, _ := retentionFixture(t)
		mustExec(t, s, `INSERT INTO retention_gate (open) VALUES (1);
			INSERT INTO pruned_events (id, hash) SELECT id, hash FROM events WHERE id <= 400 AND category <> 'AUDIT_LOG';
			DELETE FROM events WHERE id <= 400 AND category <> 'AUDIT_LOG';
			DELETE FROM retention_gate`)
		checkStartIndex(t, s)
	})
}

// pageAndSkipped returns the ids of f's page as FindEvents finds it and
// as skipping f.Offset rows one by one does.
func pageAndSkipped(t *testing.T, s *Store, f model.EventFilter) (page, skipped string) {
	t.Helper()
	ctx := context.Background()
	p, err := s.FindEvents(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, e := range p.Events {
		got = append(got, e.ID)
	}
	q, args, err := s.eventQuery(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := queryAll(ctx, s.rdb, "ids", func(sc scanner) (int64, error) {
		e, err := scanEvent(sc)
		return e.ID, err
	}, q+` LIMIT ? OFFSET ?`, append(args, f.Limit, f.Offset)...)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(got), fmt.Sprint(want)
}

func checkStartIndex(t *testing.T, s *Store) {
	t.Helper()
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	viewer := model.VisibilityFor(model.User{Role: model.RoleViewer})
	for _, vis := range []model.Visibility{admin, viewer} {
		for _, before := range []int64{0, 1, 300, 395, 601, 1001, 1002, 5000} {
			for _, start := range []int{1, 5, 100, 300, 590, 599, 600, 601, 605, 990, 1000, 1001, 3000} {
				f := model.EventFilter{Before: before, Offset: start, Limit: 7, Visibility: vis}
				if got, want := pageAndSkipped(t, s, f); got != want {
					t.Errorf("all=%v before=%d start=%d: got %v, skipping rows gives %v", vis.All(), before, start, got, want)
				}
			}
		}
	}
}

// TestStaleStatisticsHealed: closing a store that holds two events leaves
// the pinned statistics of events, and a store an older version left with
// the numbers of a nearly empty table gets them back on its next start.
func TestStaleStatisticsHealed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(ctx, []model.Event{benchEvent(1, time.Now()), benchEvent(2, time.Now())}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stat := func() string {
		var lines []string
		rows, err := db.Query(`SELECT tbl || '|' || coalesce(idx, '') || '|' || stat FROM sqlite_stat1 WHERE tbl = 'events'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, line)
		}
		return strings.Join(lines, "; ")
	}
	const pinned = "events|events_time|" + eventStatistics
	if got := stat(); got != pinned {
		t.Fatalf("after closing a store of two events, sqlite_stat1 holds %q, want %q", got, pinned)
	}
	// What an older version left after "vigil token create".
	if _, err := db.Exec(`DELETE FROM sqlite_stat1 WHERE tbl = 'events';
		INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('events', 'events_time', '2 1')`); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := stat(); got != pinned {
		t.Fatalf("after the next start, sqlite_stat1 holds %q, want %q", got, pinned)
	}
	f := model.EventFilter{Before: 2, Visibility: model.VisibilityFor(model.User{Role: model.RoleAdmin})}
	if plan := listingPlan(t, s, f); !strings.Contains(plan, "SEARCH e USING INTEGER PRIMARY KEY (rowid<?)") {
		t.Fatalf("cursor plan after the next start: %s", plan)
	}
}

// TestOptimizeKeepsEventStatistics: the hourly PRAGMA optimize of a running
// store refreshes the other tables' statistics but leaves events pinned.
func TestOptimizeKeepsEventStatistics(t *testing.T) {
	sqliteOnly(t, "PRAGMA optimize and sqlite_stat1")
	s := openTest(t)
	ctx := context.Background()
	var evs []model.Event
	for j := 0; j < 3000; j++ {
		evs = append(evs, benchEvent(j, time.Now()))
	}
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// The writer's connection has read events, so optimize considers it.
	if _, err := s.wdb.ExecContext(ctx, `ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	s.optimize(ctx)
	var stat string
	if err := s.wdb.QueryRowContext(ctx, `SELECT group_concat(coalesce(idx, '') || '|' || stat, '; ') FROM sqlite_stat1 WHERE tbl = 'events'`).Scan(&stat); err != nil {
		t.Fatal(err)
	}
	if want := "events_time|" + eventStatistics; stat != want {
		t.Fatalf("after optimize, events statistics are %q, want %q", stat, want)
	}
}

// TestStartIndexByBlocks: a start index into a listing by category and
// role, several blocks of ids deep, lands where skipping rows one by one
// does, while reading rows of one block only; so after retention removes
// a prefix and redacts above it.
func TestStartIndexByBlocks(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	end := time.Now().UTC()
	evs := rollupEvents(t, 3*blockIDs+777, end, 3)
	for i := 0; i < len(evs); i += 1000 {
		if _, err := s.AppendEvents(ctx, evs[i:min(i+1000, len(evs))]); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		operator := model.VisibilityFor(model.User{Role: model.RoleOperator, Name: "olga"})
		admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
		viewer := model.VisibilityFor(model.User{Role: model.RoleViewer})
		filters := map[string]model.EventFilter{
			"events page, admin":    {HideAccessControl: true, Visibility: admin},
			"events page, operator": {HideAccessControl: true, Visibility: operator},
			"three categories":      {Categories: []string{model.CategoryUsage, model.CategoryAuth, model.CategoryAccessControl}, Visibility: viewer},
			"audit":                 {Categories: []string{model.CategoryAuditLog}, Visibility: admin},
			"system, operator":      {Categories: []string{model.CategorySystem}, Visibility: operator},
			"viewer":                {Visibility: viewer},
		}
		for name, f := range filters {
			for _, before := range []int64{0, 1, blockIDs, blockIDs + 1, 2*blockIDs + 5, 3*blockIDs - 1, 99_999} {
				for _, start := range []int{1, 99, blockIDs - 1, blockIDs, blockIDs + 3, 2 * blockIDs, 3*blockIDs + 100, 5 * blockIDs} {
					f.Before, f.Offset, f.Limit = before, start, 5
					_, args, err := s.pageQuery(ctx, f, f.Limit)
					if err != nil {
						t.Fatal(err)
					}
					if skip := args[len(args)-1].(int); skip >= blockIDs {
						t.Fatalf("%s: %s before=%d start=%d skips %d rows", when, name, before, start, skip)
					}
					if got, want := pageAndSkipped(t, s, f); got != want {
						t.Fatalf("%s: %s before=%d start=%d: got %v, skipping rows gives %v", when, name, before, start, got, want)
					}
				}
			}
		}
	}
	check("after appends")
	res, err := s.ApplyRetention(ctx, RetentionPolicy{Cutoff: end.Add(-400 * 24 * time.Hour), ChunkSize: 997})
	if err != nil || res.Removed == 0 || res.Redacted == 0 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	check("after retention")
}

// TestPastWindowsByBlocks: a window in the past, read between the blocks
// of ids whose time spans meet it, lists what a plain scan of the events
// lists: with events in time order, in random order (every block spans
// the whole store) and with a few from clocks far off, before and after
// retention, with a cursor, categories and text.
func TestPastWindowsByBlocks(t *testing.T) {
	ctx := context.Background()
	end := time.Now().UTC().Truncate(time.Second)
	for _, order := range []string{"ordered", "random", "offclocks"} {
		t.Run(order, func(t *testing.T) {
			s := openTest(t)
			var evs []model.Event
			if order == "random" {
				evs = rollupEvents(t, 3*blockIDs+500, end, 4)
			} else {
				for i := range 3*blockIDs + 500 {
					at := end.Add(-72 * time.Hour).Add(time.Duration(i) * 20 * time.Second)
					if order == "offclocks" && i%1500 == 7 {
						at = at.AddDate(-3, 0, 0) // one in each block, years back
					}
					evs = append(evs, ev(t, fmt.Sprintf(`{"time":%q,"category":%q,"message":"signtool %d"}`,
						at.Format(time.RFC3339Nano), []string{"USAGE", "AUTH", "AUDIT_LOG"}[i%3], i)))
				}
			}
			for i := 0; i < len(evs); i += 1000 {
				if _, err := s.AppendEvents(ctx, evs[i:min(i+1000, len(evs))]); err != nil {
					t.Fatal(err)
				}
			}
			check := func(when string) {
				t.Helper()
				admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
				for _, w := range [][2]time.Duration{{70 * time.Hour, 30 * time.Hour}, {60 * time.Hour, 59 * time.Hour}, {50 * time.Hour, 49*time.Hour + 30*time.Minute}, {40 * time.Hour, 2 * time.Hour}} {
					from, to := end.Add(-w[0]), end.Add(-w[1])
					for _, before := range []int64{0, 5000, 9000} {
						for _, f := range []model.EventFilter{
							{From: from, To: to, Before: before, Limit: 50, Visibility: admin},
							{From: from, To: to, Before: before, Limit: 50, Categories: []string{"USAGE", "AUTH"}, Visibility: admin},
							{From: from, To: to, Before: before, Limit: 50, Q: "signtool", Visibility: admin},
						} {
							page, err := s.FindEvents(ctx, f)
							if err != nil {
								t.Fatal(err)
							}
							var got []int64
							for _, e := range page.Events {
								got = append(got, e.ID)
							}
							cond, args := ``, []any{from.UnixNano(), to.UnixNano()}
							if before > 0 {
								cond, args = ` AND id < ?`, append(args, before)
							}
							if len(f.Categories) > 0 {
								cond += ` AND category IN ('USAGE', 'AUTH')`
							}
							if f.Q != "" {
								cond += ` AND message LIKE '%signtool%'`
							}
							want, err := queryAll(ctx, s.rdb, "ids", func(sc scanner) (int64, error) {
								var id int64
								return id, sc.Scan(&id)
							}, `SELECT id FROM events WHERE time_ns BETWEEN ? AND ?`+cond+` ORDER BY id DESC LIMIT 50`, args...)
							if err != nil {
								t.Fatal(err)
							}
							if fmt.Sprint(got) != fmt.Sprint(want) {
								t.Fatalf("%s: %+v:\ngot  %v\nscan %v", when, f, got, want)
							}
						}
					}
				}
			}
			check("after appends")
			if _, err := s.ApplyRetention(ctx, RetentionPolicy{Cutoff: end.Add(-400 * 24 * time.Hour), ChunkSize: 997}); err != nil {
				t.Fatal(err)
			}
			check("after retention")
		})
	}
}
