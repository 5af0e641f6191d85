package store

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/pgtest"
	"vigil/model"
)

// The store's tests are one suite for both engines: with
// VIGIL_TEST_STORE=postgres (make test runs the package both ways) each
// test's store is a database of its own on a PostgreSQL server started
// for the package; otherwise an SQLite file in the test's directory.
// Tests of what only one engine has (SQLite's files, its planner) say so
// with sqliteOnly.

// onPostgres reports whether this run's stores are PostgreSQL databases.
func onPostgres() bool { return os.Getenv("VIGIL_TEST_STORE") == "postgres" }

var pgServer struct {
	once sync.Once
	s    *pgtest.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pgServer.s != nil {
		pgServer.s.Stop()
	}
	os.Exit(code)
}

// testDB returns where a test's store is: a new PostgreSQL database, or
// vigil.db in a new temporary directory.
func testDB(t testing.TB) string {
	t.Helper()
	if !onPostgres() {
		return filepath.Join(t.TempDir(), "vigil.db")
	}
	pgtest.SkipWithout(t)
	pgServer.once.Do(func() { pgServer.s, pgServer.err = pgtest.Launch() })
	if pgServer.err != nil {
		t.Fatal(pgServer.err)
	}
	return pgServer.s.NewDatabase(t)
}

// sqliteOnly skips t when the stores are PostgreSQL: t tests what only
// the SQLite engine has (its files, its planner, VACUUM INTO).
func sqliteOnly(t testing.TB, what string) {
	t.Helper()
	if onPostgres() {
		t.Skip("SQLite engine only: " + what)
	}
}

// TestRebindLeavesQuotedTextAlone: the placeholders become $1, $2, …;
// a ? in quoted text, a quoted name or a comment stays.
func TestRebindLeavesQuotedTextAlone(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`:                          `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`,
		`SELECT '?', "we?ird" FROM t WHERE x = ? -- why?` + "\n" + `AND y = ?`: `SELECT '?', "we?ird" FROM t WHERE x = $1 -- why?` + "\n" + `AND y = $2`,
		`SELECT 'it''s' WHERE a = ?`:                                           `SELECT 'it''s' WHERE a = $1`,
		`SELECT 1`:                                                             `SELECT 1`,
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTsqueryFromFTS5: the expressions ftsQuery writes become tsquery text
// with the same meaning, words folded as the documents' lexemes are.
func TestTsqueryFromFTS5(t *testing.T) {
	for in, want := range map[string]string{
		`"Alice" AND "Login"`:      `'alice' & 'login'`,
		`"cert" *`:                 `'cert':*`,
		`("a" OR "b") NOT ("c")`:   `('a' | 'b') & !('c')`,
		`("Café") AND "zzfilter"`:  `('cafe') & 'zzfilter'`,
		`"x" AND ("ab" OR "cd" *)`: `'x' & ('ab' | 'cd':*)`,
	} {
		if got := tsquery(in); got != want {
			t.Errorf("tsquery(%q) = %q, want %q", in, got, want)
		}
	}
	if got := lexemeText([]byte("Café login FAILED for alice@example.com login")); got != "cafe login failed for alice example com login" {
		t.Errorf("lexemeText = %q", got)
	}
}

// TestOneSchedulerPerDatabase: of two stores on one database, one leads
// the scheduler; when it closes (a node stopping or dying) the other
// takes over at its next call. On SQLite, one box, every store leads.
func TestOneSchedulerPerDatabase(t *testing.T) {
	ctx := context.Background()
	target := testDB(t)
	a, err := Open(ctx, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			a.Close()
		}
	}()
	if !onPostgres() {
		if !a.LeadsScheduler(ctx) || a.Shared() {
			t.Fatal("an SQLite store does not lead its scheduler, or says it is shared")
		}
		return
	}
	b, err := Open(ctx, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !a.LeadsScheduler(ctx) {
		t.Fatal("the first store does not lead")
	}
	if b.LeadsScheduler(ctx) {
		t.Fatal("two stores lead the scheduler of one database")
	}
	if !a.LeadsScheduler(ctx) {
		t.Fatal("the leader lost the lead without cause")
	}
	a.Close()
	closed = true
	deadline := time.Now().Add(10 * time.Second)
	for !b.LeadsScheduler(ctx) {
		if time.Now().After(deadline) {
			t.Fatal("the second store did not take over once the first closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLexemeTextMatchesLexemes: the one-pass document text has the words
// lexemes gives, case and diacritics folded, separated by single spaces.
func TestLexemeTextMatchesLexemes(t *testing.T) {
	for _, in := range []string{
		"", "   ", "Café login FAILED for alice@example.com login",
		"E_LOGIN_FAILED 10.0.0.7 key-4711 ÉCOLE naïve Straße 東京 x", "ß", "a--b  c\td\n",
		"CN=web01.example.com,O=Example Ünïcode",
	} {
		got := strings.Fields(lexemeText([]byte(in)))
		want := lexemes([]byte(in))
		slices.Sort(got)
		got = slices.Compact(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%q: lexemeText gives %q, lexemes %q", in, got, want)
		}
		if text := lexemeText([]byte(in)); strings.Contains(text, "  ") || strings.HasPrefix(text, " ") || strings.HasSuffix(text, " ") {
			t.Errorf("%q: %q is not words separated by single spaces", in, text)
		}
	}
}

// lexemes is the reference lexemeText is checked against: the distinct
// words of a document as searchWords splits them, folded.
func lexemes(text []byte) []string {
	words := searchWords(string(text))
	seen := make(map[string]struct{}, len(words))
	out := make([]string, 0, len(words))
	for _, w := range words {
		w = fold(w)
		if _, ok := seen[w]; ok {
			continue
		}
		seen[w] = struct{}{}
		out = append(out, w)
	}
	return out
}

// TestRareWordsReadThroughGIN: on PostgreSQL a listing of a word the
// planner expects in few documents reads its matches and sorts them; a
// common word walks the documents newest first. Both find what they
// should.
func TestRareWordsReadThroughGIN(t *testing.T) {
	if !onPostgres() {
		t.Skip("PostgreSQL engine only: the planner's estimate of full-text matches")
	}
	ctx := context.Background()
	s := openTest(t)
	const n = 30_000 // more than fewMatchesEstimate; event 77 mentions "zanzibar"
	fillBench(t, s, n, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	s.ix.waitFor(ctx, n)
	if err := s.eng.optimize(ctx, s.wdb); err != nil {
		t.Fatal(err)
	}
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	for _, c := range []struct {
		q      string
		sorted bool
		found  int
	}{{"zanzibar", true, 1}, {"signtool", false, 100}, {"sign*", false, 100}} {
		f := model.EventFilter{Q: c.q, Visibility: admin}
		q, _, err := s.pageQuery(ctx, f, 101)
		if err != nil {
			t.Fatal(err)
		}
		if sorted := strings.Contains(q, "ORDER BY f.rowid + 0"); sorted != c.sorted {
			t.Errorf("q=%s: sorted matches %v, want %v: %s", c.q, sorted, c.sorted, q)
		}
		page, err := s.FindEvents(ctx, f)
		if err != nil || len(page.Events) != c.found {
			t.Errorf("q=%s: %d events, %v; want %d", c.q, len(page.Events), err, c.found)
		}
		for i := 1; i < len(page.Events); i++ {
			if page.Events[i].ID >= page.Events[i-1].ID {
				t.Errorf("q=%s: not newest first at %d", c.q, i)
			}
		}
	}
}
