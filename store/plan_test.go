package store

import (
	"context"
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
		// As after "vigil user add" on a new store: a few events, then the
		// store closes (and runs PRAGMA optimize).
		if _, err := s.AppendEvents(ctx, evs[:3]); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = open()
		evs = evs[3:]
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
		t.Run(c.name, func(t *testing.T) {
			q, _ := url.ParseQuery(c.query)
			f, err := model.ParseEventFilter(q)
			if err != nil {
				t.Fatal(err)
			}
			f.Visibility = c.vis
			sqlText, args, err := s.eventQuery(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			text, err := s.queryPlan(ctx, sqlText+` LIMIT 100`, args)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(text, "TEMP B-TREE") && !c.sorts {
				t.Errorf("plan sorts in a temporary B-tree: %s", text)
			}
			if !strings.Contains(text, c.want) {
				t.Errorf("plan %q lacks %q", text, c.want)
			}
		})
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
	var logs syncbuf.Buffer
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "vigil.db"),
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
