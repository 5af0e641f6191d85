package store

import (
	"context"
	"fmt"
	"testing"

	"vigil/model"
)

// TestNewerCursor walks a listing down with its Older cursors, then back
// up with NewerCursor: each step up lists exactly the page it came from,
// and the second page leads back to the first, which has no cursor.
func TestNewerCursor(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var evs []model.Event
	for i := range 23 {
		evs = append(evs, ev(t, fmt.Sprintf(`{"type":"CERT_USED","outcome":"ALLOWED","actor":{"id":%q},"message":"use %d"}`, []string{"alice", "bob", "carol"}[i%3], i)))
	}
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	all := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	ids := func(p EventPage) string {
		var out []int64
		for _, e := range p.Events {
			out = append(out, e.ID)
		}
		return fmt.Sprint(out)
	}
	for _, base := range []model.EventFilter{
		{},               // every event, by id
		{Actor: "alice"}, // through the full-text index
		{Categories: []string{model.CategoryUsage, model.CategoryAuth}},
	} {
		for _, limit := range []int{1, 2, 5, 8, 100} {
			t.Run(fmt.Sprintf("%s/limit=%d", base.String(), limit), func(t *testing.T) {
				f := base
				f.Limit, f.Visibility = limit, all
				var pages []string
				var cursors []int64 // the Before of each page, 0 for the first
				for {
					p, err := s.FindEvents(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					pages, cursors = append(pages, ids(p)), append(cursors, f.Before)
					if p.Next == 0 {
						break
					}
					f.Before = p.Next
				}
				for k := len(pages) - 1; k >= 1; k-- {
					f.Before = cursors[k]
					c, ok, err := s.NewerCursor(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if ok != (k > 1) || (ok && c != cursors[k-1]) {
						t.Fatalf("from page %d (before=%d) NewerCursor says %d, %v; want %d, %v", k+1, cursors[k], c, ok, cursors[k-1], k > 1)
					}
					f.Before = c
					p, err := s.FindEvents(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if ids(p) != pages[k-1] {
						t.Errorf("Newer from page %d lists %s, want %s", k+1, ids(p), pages[k-1])
					}
				}
			})
		}
	}
}
