package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"vigil/model"
)

// TestTextMatchAgreesWithFTS5: the index holds blocks of events, and each
// event of a matching block is then decided by textMatch. For every query
// and text, textMatch must say what FTS5 says of the text indexed on its
// own, queried as searches were before blocks: the terms joined by AND and
// OR in the order typed, the NOT terms excluded from the whole.
func TestTextMatchAgreesWithFTS5(t *testing.T) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "ref.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE VIRTUAL TABLE ref USING fts5(doc, detail = none, tokenize = 'unicode61 remove_diacritics 2')`); err != nil {
		t.Fatal(err)
	}
	words := []string{"login", "Login", "LOGIN", "failed", "fail", "alice", "bob", "cert", "certificate", "x509",
		"E_LOGIN_FAILED", "alice@example.com", "10.0.0.7", "café", "Ünïcode", "naïve", "4F2A91"}
	rng := rand.New(rand.NewPCG(7, 9))
	var texts []string
	for i := range 300 {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			w := words[rng.IntN(len(words))]
			if i%3 != 0 && !isASCII(w) {
				w = "plain" // most texts are ASCII, as most events are
			}
			b.WriteString(w)
			b.WriteString([]string{" ", ", ", "\t", "=", `"`}[rng.IntN(5)])
		}
		texts = append(texts, b.String())
	}
	for i, text := range texts {
		if _, err := db.Exec(`INSERT INTO ref (rowid, doc) VALUES (?, ?)`, i+1, text); err != nil {
			t.Fatal(err)
		}
	}
	qwords := []string{"login", "FAILED", "fail*", "cert*", "alice", "-bob", "-login", "NOT failed", `"alice example"`,
		"x509", "cafe", "CAFÉ", "naive", "unicode", "e_login*", "10.0.0.7", "4f2a91", "nothing"}
	for range 400 {
		var parts []string
		for j := range 1 + rng.IntN(4) {
			if j > 0 && rng.IntN(3) == 0 {
				parts = append(parts, "OR")
			}
			parts = append(parts, qwords[rng.IntN(len(qwords))])
		}
		input := strings.Join(parts, " ")
		q, err := parseTextQuery(input)
		if err != nil {
			continue // no positive word
		}
		want := map[int]bool{}
		rows, err := db.Query(`SELECT rowid FROM ref WHERE ref MATCH ?`, flatFTS5(q))
		if err != nil {
			t.Fatalf("%q: %v", input, err)
		}
		for rows.Next() {
			var id int
			rows.Scan(&id)
			want[id-1] = true
		}
		rows.Close()
		for i, text := range texts {
			got, err := textMatch(input, text)
			if err != nil {
				t.Fatal(err)
			}
			if got != want[i] {
				t.Fatalf("query %q on %q: textMatch says %v, FTS5 %v", input, text, got, want[i])
			}
		}
	}
}

// flatFTS5 writes q as searches were written before blocks: the positive
// terms joined in order by AND (OR where typed), without parentheses
// between them, so FTS5's own precedence groups them.
func flatFTS5(q textQuery) string {
	var pos []string
	for i, g := range q.groups {
		for j, t := range g {
			switch {
			case i == 0 && j == 0:
				pos = append(pos, t.fts5(nil))
			case j == 0:
				pos = append(pos, "OR "+t.fts5(nil))
			default:
				pos = append(pos, "AND "+t.fts5(nil))
			}
		}
	}
	expr := strings.Join(pos, " ")
	if len(q.neg) == 0 {
		return expr
	}
	var neg []string
	for _, t := range q.neg {
		neg = append(neg, t.fts5(nil))
	}
	return "(" + expr + ") NOT (" + strings.Join(neg, " OR ") + ")"
}

// TestSearchThroughBlocks: listings, pages, cursors and exports through
// the index of blocks give exactly the events that match, newest first,
// whatever the blocks share: events matching NOT terms beside ones that
// match, blocks filled over several batches and across a restart, and
// text that is not ASCII.
func TestSearchThroughBlocks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	message := func(i int) string {
		var w []string
		if i%3 == 0 {
			w = append(w, "alpha")
		}
		if i%5 == 0 {
			w = append(w, "beta")
		}
		if i%7 == 0 {
			w = append(w, "Gamma-ray")
		}
		if i%11 == 0 {
			w = append(w, "café")
		}
		return strings.Join(append(w, fmt.Sprintf("n%d", i)), " ")
	}
	next := 0
	add := func(n, batch int) {
		for n > 0 {
			var evs []model.Event
			for range min(batch, n) {
				evs = append(evs, ev(t, fmt.Sprintf(`{"message":%q,"category":"USAGE","type":"CERT_USED"}`, message(next))))
				next++
			}
			n -= len(evs)
			if _, err := s.AppendEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
		}
	}
	queries := map[string]func(i int) bool{
		"alpha":          func(i int) bool { return i%3 == 0 },
		"alpha -beta":    func(i int) bool { return i%3 == 0 && i%5 != 0 },
		"alpha NOT gam*": func(i int) bool { return i%3 == 0 && i%7 != 0 },
		"beta OR gamma":  func(i int) bool { return i%5 == 0 || i%7 == 0 },
		"alpha beta":     func(i int) bool { return i%3 == 0 && i%5 == 0 },
		"ray":            func(i int) bool { return i%7 == 0 },
		"CAFE":           func(i int) bool { return i%11 == 0 },
		"café -alpha":    func(i int) bool { return i%11 == 0 && i%3 != 0 },
		"n130":           func(i int) bool { return i == 130 },
	}
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	check := func(when string) {
		t.Helper()
		for q, match := range queries {
			var want []int64
			for i := next - 1; i >= 0; i-- {
				if match(i) {
					want = append(want, int64(i+1)) // ids start at 1
				}
			}
			var exported []int64
			if _, err := s.ExportEvents(ctx, model.EventFilter{Q: q, Visibility: admin}, func(e *model.Event) error {
				exported = append(exported, e.ID)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(exported, want) {
				t.Fatalf("%s: export of %q: %v, want %v", when, q, exported, want)
			}
			// Page by cursor, 7 at a time, and by start index.
			var paged []int64
			f := model.EventFilter{Q: q, Limit: 7, Visibility: admin}
			for {
				page, err := s.FindEvents(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page.Events {
					paged = append(paged, e.ID)
				}
				if page.Next == 0 {
					break
				}
				// From the next page's cursor, the newer page is this one.
				before, ok, err := s.NewerCursor(ctx, model.EventFilter{Q: q, Limit: 7, Before: page.Next, Visibility: admin})
				if err != nil {
					t.Fatal(err)
				}
				if ok != (f.Before > 0) || ok && before != f.Before {
					t.Fatalf("%s: %q: the page newer than cursor %d has cursor %d (%v), want %d", when, q, page.Next, before, ok, f.Before)
				}
				f.Before = page.Next
			}
			if !slices.Equal(paged, want) {
				t.Fatalf("%s: pages of %q: %v, want %v", when, q, paged, want)
			}
			if len(want) > 12 {
				page, err := s.FindEvents(ctx, model.EventFilter{Q: q, Limit: 5, Offset: 9, Visibility: admin})
				if err != nil {
					t.Fatal(err)
				}
				var got []int64
				for _, e := range page.Events {
					got = append(got, e.ID)
				}
				if !slices.Equal(got, want[9:14]) {
					t.Fatalf("%s: %q from start index 9: %v, want %v", when, q, got, want[9:14])
				}
			}
		}
	}
	add(300, 37) // blocks filled over several batches
	check("after batches of 37")
	add(90, 1)
	check("after single events")
	s.Close()
	if s, err = Open(ctx, path, Options{}); err != nil {
		t.Fatal(err)
	}
	add(50, 13) // the half-full block goes on after a restart
	check("after a restart")
}
