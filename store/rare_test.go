package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"vigil/model"
)

// TestRareCategoryListedWhileIndexBehind: the Audit and System logs
// (a single category of Vigil's own and agents' records) list their rows
// through their own partial index, among many USAGE events, and are
// complete while the full-text index is held back.
func TestRareCategoryListedWhileIndexBehind(t *testing.T) {
	sqliteOnly(t, "opens the full-text file")
	s := openTest(t)
	ctx := context.Background()
	var evs []model.Event
	for i := range 5000 {
		evs = append(evs, ev(t, fmt.Sprintf(`{"type":"CERT_USED","message":"use %d"}`, i)))
		if i%1000 == 0 {
			evs = append(evs, ev(t, fmt.Sprintf(`{"category":"AUDIT_LOG","type":"ISSUANCE_COMPLETED","message":"audit %d"}`, i)),
				ev(t, fmt.Sprintf(`{"category":"SYSTEM","type":"E_SECTION_VISITED","actor":{"type":"USER","id":"olga"},"message":"system %d"}`, i)))
		}
	}
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}

	// Hold the full-text database's write lock: the indexer cannot go on.
	fts, err := sql.Open("sqlite3", ftsPath(s.Path()))
	if err != nil {
		t.Fatal(err)
	}
	defer fts.Close()
	conn, err := fts.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `ROLLBACK`)
	if _, err := s.AppendEvents(ctx, []model.Event{
		ev(t, `{"category":"AUDIT_LOG","type":"RENEWAL_COMPLETED","message":"audit newest"}`),
		ev(t, `{"category":"SYSTEM","type":"E_SECTION_VISITED","actor":{"type":"USER","id":"olga"},"message":"system newest"}`),
		ev(t, `{"type":"CERT_USED","message":"use newest"}`),
	}); err != nil {
		t.Fatal(err)
	}

	operator := model.VisibilityFor(model.User{Role: model.RoleOperator, Name: "olga"})
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	for _, tc := range []struct {
		category string
		vis      model.Visibility
	}{{model.CategoryAuditLog, admin}, {model.CategorySystem, admin}, {model.CategorySystem, operator}} {
		f := model.EventFilter{Categories: []string{tc.category}, Limit: 3, Visibility: tc.vis}
		page, err := s.FindEvents(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != 3 || !strings.HasSuffix(page.Events[0].Message, " newest") || page.Events[0].Category != tc.category || page.MayMiss() != 0 {
			t.Fatalf("%s: page %v, may miss %d; want the newest first, complete", tc.category, page.Events, page.MayMiss())
		}
		// The next page, from the cursor, to the oldest.
		f.Before, f.Limit = page.Next, 100
		rest, err := s.FindEvents(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(page.Events) + len(rest.Events); n != 6 {
			t.Fatalf("%s: %d events listed, want 6", tc.category, n)
		}
		q, args, err := s.eventQuery(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := s.queryPlan(ctx, q+` LIMIT 100`, args)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "events_category_") || strings.Contains(plan, "events_fts") {
			t.Fatalf("%s: plan %s; want the category's own index", tc.category, plan)
		}
	}
}
