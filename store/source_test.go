package store

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"vigil/model"
)

// TestSourceFilter: source= finds exactly the events of the sources named,
// newest first, page by page, alone and with a category, also after a
// store whose full-text index predates the source tokens is opened.
func TestSourceFilter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.db")
	open := func() *Store {
		t.Helper()
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var evs []model.Event
	for j := range 3000 {
		e := benchEvent(j, end)
		if j%101 == 0 && e.Category != model.CategorySystem {
			e.Source = model.SourceSyslogUDP // rare
		}
		evs = append(evs, e)
	}
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	want := func(query string) []int64 {
		q, _ := url.ParseQuery(query)
		f, _ := model.ParseEventFilter(q)
		var ids []int64
		for i := len(evs) - 1; i >= 0; i-- {
			if slices.Contains(f.Sources, evs[i].Source) && (len(f.Categories) == 0 || slices.Contains(f.Categories, evs[i].Category)) {
				ids = append(ids, int64(i+1))
			}
		}
		return ids
	}
	check := func(t *testing.T, s *Store) {
		for _, query := range []string{
			"source=syslog-udp", "source=http", "source=internal", "source=syslog-tcp",
			"source=http,syslog-udp", "source=internal&category=SYSTEM", "source=syslog-udp&category=AUTH",
			"source=syslog-tls",
		} {
			q, _ := url.ParseQuery(query)
			f, err := model.ParseEventFilter(q)
			if err != nil {
				t.Fatal(err)
			}
			f.Visibility, f.Limit = model.VisibilityFor(model.User{Role: model.RoleAdmin}), 1000
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
			if w := want(query); !slices.Equal(got, w) {
				t.Errorf("%s: %d events, want %d", query, len(got), len(w))
			}
		}
	}
	t.Run("Fresh", func(t *testing.T) { check(t, s) })
	s.Close()

	// An index of the format before source tokens is rebuilt on start.
	fts, err := sql.Open("sqlite3", ftsPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fts.Exec(`UPDATE fts_state SET format = 4`); err != nil {
		t.Fatal(err)
	}
	fts.Close()
	s = open()
	defer s.Close()
	t.Run("IndexOfOlderFormat", func(t *testing.T) { check(t, s) })
}
