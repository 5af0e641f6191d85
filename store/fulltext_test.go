package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"vigil/internal/sqlitelock"
	"vigil/model"
)

// TestFullTextIndexRebuilds: the full-text database is derived data. Lost,
// corrupted or ahead of the events (an older events database put back), it
// is rebuilt from the events, and searches find everything again.
func TestFullTextIndexRebuilds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "vigil.db")
	open := func() *Store {
		t.Helper()
		s, err := Open(ctx, dbPath, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	appendN(t, s, 500, 100)
	for _, q := range []string{"lea*", "LEA*", "leaf"} {
		if n := countSearch(t, s, q); n != 500 {
			t.Fatalf("%s found %d, want 500", q, n)
		}
	}
	old := filepath.Join(t.TempDir(), "old.db")
	if err := s.Backup(ctx, old); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 100, 100)
	s.Close()

	cases := []struct {
		name   string
		damage func(t *testing.T)
		want   int
	}{
		{"Deleted", func(t *testing.T) { os.Remove(ftsPath(dbPath)) }, 600},
		{"Garbage", func(t *testing.T) {
			os.WriteFile(ftsPath(dbPath), []byte("this is not a database, just bytes on a bad disk"), 0o600)
		}, 600},
		{"OlderEventsRestored", func(t *testing.T) {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(dbPath + suffix)
			}
			if err := os.Rename(old, dbPath); err != nil {
				t.Fatal(err)
			}
		}, 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.damage(t)
			s := open()
			defer s.Close()
			if n := countSearch(t, s, "leaf"); n != c.want {
				t.Fatalf("found %d after the index was rebuilt, want %d", n, c.want)
			}
			// Prefixes expand through the rebuilt list of words (the
			// search above waited for the index).
			if words := s.prefixWords(ctx, "lea"); !slices.Equal(words, []string{"leaf"}) {
				t.Fatalf("words starting with lea after the rebuild: %q", words)
			}
			if n := countSearch(t, s, "lea*"); n != c.want {
				t.Fatalf("prefix found %d after the index was rebuilt, want %d", n, c.want)
			}
		})
	}
}

// TestIndexStatus: while the indexer cannot write, committed events are
// counted as not searchable, the index is reported behind once they have
// waited longer than a search waits (and a search indeed misses them), and
// it is reported current again once the indexer has caught up.
func TestIndexStatus(t *testing.T) {
	sqliteOnly(t, "holds the lock of the full-text file")
	s := openTest(t)
	if st := s.IndexStatus(); st.Behind || st.Lag != 0 {
		t.Fatalf("empty store: %+v", st)
	}
	release := sqlitelock.Hold(t, ftsPath(s.Path())) // the indexer cannot write
	appendN(t, s, 30, 10)
	st := waitIndexStatus(t, s, func(st IndexStatus) bool { return st.Behind })
	if st.Committed != 30 || st.Indexed != 0 || st.Lag != 30 {
		t.Errorf("behind: %+v, want 30 committed, none indexed", st)
	}
	if n := countSearch(t, s, "leaf"); n != 0 {
		t.Errorf("a search on the stalled index found %d events", n)
	}
	// A page says what it may miss: a search all that is not indexed, a
	// listing by time alone nothing.
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	search, err := s.FindEvents(context.Background(), model.EventFilter{Q: "leaf", Visibility: admin})
	if err != nil || !search.ThroughIndex || search.MayMiss() != 30 || len(search.Events) != 0 || !search.Index.Behind {
		t.Errorf("search on the stalled index: %+v %v, want through the index, 30 missed", search, err)
	}
	all, err := s.FindEvents(context.Background(), model.EventFilter{Visibility: admin})
	if err != nil || all.ThroughIndex || all.MayMiss() != 0 || len(all.Events) != 30 || all.Index.Lag != 30 {
		t.Errorf("listing without the index: %d events, through %v, may miss %d, %v", len(all.Events), all.ThroughIndex, all.MayMiss(), err)
	}
	release()
	st = waitIndexStatus(t, s, func(st IndexStatus) bool { return !st.Behind && st.Lag == 0 })
	if st.Indexed != 30 {
		t.Errorf("caught up: %+v", st)
	}
	if n := countSearch(t, s, "leaf"); n != 30 {
		t.Errorf("found %d after catching up, want 30", n)
	}
}

// waitIndexStatus polls s.IndexStatus until ok accepts it, for at most 30 s.
func waitIndexStatus(t *testing.T, s *Store, ok func(IndexStatus) bool) IndexStatus {
	t.Helper()
	var st IndexStatus
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st = s.IndexStatus(); ok(st) {
			return st
		}
	}
	t.Fatalf("index status still %+v after 30 s", st)
	return st
}

// TestIndexLagMark: the index counts as behind only when it has not
// reached, for longer than a search waits, what was committed before.
func TestIndexLagMark(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	type step struct {
		at              time.Duration // after t0
		committed, upto int64
		want            bool
	}
	cases := []struct {
		name  string
		start int64 // committed when the store opened
		steps []step
	}{
		{"Current", 10, []step{{0, 10, 10, false}, {5 * time.Second, 12, 12, false}}},
		// During a flood the index is never level with the events, but it
		// passes each mark within the wait: searches find everything.
		{"FloodKeptUp", 0, []step{
			{0, 1000, 0, false}, {time.Second, 80_000, 1_200, false}, {2 * time.Second, 160_000, 81_000, false},
			{3 * time.Second, 240_000, 165_000, false}, {4 * time.Second, 320_000, 250_000, false},
		}},
		{"Stalled", 0, []step{
			{0, 5, 0, false}, {time.Second, 5, 0, false}, {2 * time.Second, 6, 0, false},
			{2500 * time.Millisecond, 6, 0, true}, {3 * time.Second, 7, 6, false}, {4 * time.Second, 7, 7, false},
		}},
		// A rebuild after a restore is behind from the start.
		{"Rebuild", 1_000_000, []step{
			{time.Second, 1_000_000, 8192, false}, {3 * time.Second, 1_000_000, 200_000, true},
			{10 * time.Second, 1_000_050, 900_000, true}, {14 * time.Second, 1_000_100, 1_000_100, false},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m lagMark
			m.set(c.start, t0)
			for i, st := range c.steps {
				if got := m.behind(st.committed, st.upto, t0.Add(st.at)); got != st.want {
					t.Errorf("step %d (%v: committed %d, indexed %d): behind %v, want %v", i, st.at, st.committed, st.upto, got, st.want)
				}
			}
		})
	}
}

// TestPrefixFindsNewestWords: a prefix expands to the words of every event
// acknowledged before the search, including words first seen in the newest
// ones (the expansion waits for the index, as the search does).
func TestPrefixFindsNewestWords(t *testing.T) {
	s := openTest(t)
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	for round := range 20 {
		var evs []model.Event
		for i := range 2000 {
			evs = append(evs, ev(t, fmt.Sprintf(`{"message":"prefixword%dx event %d"}`, round, i)))
		}
		if _, err := s.AppendEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		// The word of this round is new: only the expansion made after the
		// index caught up knows it.
		found, err := s.FindEvents(context.Background(), model.EventFilter{Q: "prefixword*", Limit: 1, Visibility: admin})
		got := found.Events
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Message != fmt.Sprintf("prefixword%dx event 1999", round) {
			t.Fatalf("round %d: newest match %v, want the last event just appended", round, got)
		}
	}
}

// TestWordsTableHoldsTheWordsOnly: the words table that prefixes expand
// through holds every word of the events' text and none of their filter
// tokens.
func TestWordsTableHoldsTheWordsOnly(t *testing.T) {
	sqliteOnly(t, "the words table FTS5 prefixes expand through")
	ctx := context.Background()
	s := openTest(t)
	var evs []model.Event
	for i := range 500 {
		evs = append(evs, ev(t, fmt.Sprintf(`{"message":"Renewal repeated on host-%d  twice","actor":{"type":"USER","id":"alice"},"tenant":"acme"}`, i%7)))
	}
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	s.ix.waitFor(ctx, s.writer.committed.Load())
	rows, err := s.rdb.QueryContext(ctx, `SELECT term FROM fts.words_vocab`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	words := map[string]bool{}
	for rows.Next() {
		var term string
		if err := rows.Scan(&term); err != nil {
			t.Fatal(err)
		}
		words[term] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"renewal", "repeated", "host", "0", "6", "twice", "alice", "acme"} {
		if !words[w] {
			t.Errorf("word %q missing from the words table: %v", w, words)
		}
	}
	for w := range words {
		if strings.HasPrefix(w, "zz") {
			t.Errorf("filter token %q in the words table", w)
		}
	}
}

// TestBatchWordsKeepsEachChunkOnce: a batch's words document has each
// space-separated chunk of its events' text once, in the order first met.
func TestBatchWordsKeepsEachChunkOnce(t *testing.T) {
	var b batchWords
	b.add([]byte("alpha beta  alpha gamma,delta "))
	b.add([]byte("beta Alpha gamma,delta épée"))
	if got, want := string(b.text), "alpha beta gamma,delta Alpha épée "; got != want {
		t.Fatalf("words document %q, want %q", got, want)
	}
	b.reset()
	b.add([]byte("beta"))
	if got := string(b.text); got != "beta " {
		t.Fatalf("after reset: %q, want %q", got, "beta ")
	}
}
