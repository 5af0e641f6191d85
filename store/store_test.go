package store

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"vigil/model"
)

// openTest opens a store in a fresh temporary directory with the project's
// real schema and migrations.
// testPartitionIDs is the size of the event partitions of openTest's
// stores on PostgreSQL: small, so that the tests' few thousand events
// cross several.
const testPartitionIDs = 1024

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), testDB(t), Options{partitionIDs: testPartitionIDs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// schemaBefore is the embedded schema as an older version had it: schema.sql
// and the migrations numbered below first, to upgrade from.
func schemaBefore(t testing.TB, first int) fs.FS {
	t.Helper()
	old := fstest.MapFS{}
	names, err := fs.Glob(schemaFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append(names, "schema.sql") {
		if n != "schema.sql" && path.Base(n) >= fmt.Sprintf("%04d", first) {
			continue
		}
		b, err := fs.ReadFile(schemaFS, n)
		if err != nil {
			t.Fatal(err)
		}
		old[n] = &fstest.MapFile{Data: b}
	}
	return old
}

// ev decodes an event as posted over HTTP. One whose category is SYSTEM
// is made one of Vigil's own records (source internal), the only events
// that may have that category.
func ev(t testing.TB, js string) model.Event {
	t.Helper()
	now := time.Now()
	e, err := model.DecodeEvent([]byte(js), now)
	if err != nil && strings.Contains(js, `"category":"SYSTEM"`) {
		if e, err = model.DecodeEvent([]byte(strings.Replace(js, `"category":"SYSTEM"`, `"category":"USAGE"`, 1)), now); err == nil {
			e.Source, e.Category = model.SourceInternal, model.CategorySystem
			err = e.Normalize(now)
		}
	}
	if err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return e
}

func TestAppendAndRead(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	res, err := s.AppendEvents(ctx, []model.Event{
		ev(t, `{"type":"CERT_USED","outcome":"ALLOWED","message":"first","time":"2026-01-02T03:04:05.123456789+02:00"}`),
		ev(t, `{"type":"E_LOGIN_FAILED","category":"AUTH","outcome":"FAILURE","actor":{"type":"USER","id":"alice","ip":"10.0.0.7"},"details":{"reason":"bad otp"}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.IDs[0] != 1 || res.IDs[1] != 2 {
		t.Fatalf("result %+v", res)
	}
	e, err := s.EventByID(ctx, 1, model.VisibilityFor(model.User{Role: model.RoleAdmin}))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Time.Format(time.RFC3339Nano); got != "2026-01-02T03:04:05.123456789+02:00" {
		t.Errorf("time kept as %s", got)
	}
	e2, _ := s.EventByID(ctx, 2, model.VisibilityFor(model.User{Role: model.RoleAdmin}))
	if e2.Actor.ID != "alice" || string(e2.Details) != `{"reason":"bad otp"}` || len(e2.Hash) != HashSize {
		t.Errorf("event 2 read back as %+v", e2)
	}
	if _, err := s.EventByID(ctx, 99, model.VisibilityFor(model.User{Role: model.RoleAdmin})); model.ErrorCode(err) != model.ENOTFOUND {
		t.Errorf("missing event: %v", err)
	}
}

func TestEventsAreAppendOnly(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.AppendEvents(ctx, []model.Event{ev(t, `{"message":"keep me"}`)}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE events SET message = 'changed' WHERE id = 1`, `DELETE FROM events WHERE id = 1`} {
		_, err := s.wdb.Exec(q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want refusal", q, err)
		}
	}
}

func TestSearch(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var evs []model.Event
	for i := 0; i < 300; i++ {
		evs = append(evs, ev(t, fmt.Sprintf(`{"type":"CERT_USED","message":"routine use %d","actor":{"id":"svc%d"}}`, i, i%7)))
	}
	evs[123] = ev(t, `{"type":"CERT_USED","message":"the zanzibar key was used","details":{"host":"édition.example"}}`)
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	cases := []struct {
		name, q string
		want    int
	}{
		{"RareWord", "zanzibar", 1},
		{"CaseFolded", "ZANZIBAR", 1},
		{"Prefix", "zanz*", 1},
		{"PrefixFolded", "ZANZ*", 1},
		{"PrefixOfSeveralWords", "svc*", 299}, // every event but the replaced one
		{"PrefixOfManyWords", "1*", 110},      // over 64 words: FTS5's own prefix query
		{"DiacriticsFolded", "edition", 1},
		{"DetailsKey", "host", 1},
		{"AllWords", "zanzibar routine", 0},
		{"Or", "zanzibar OR svc3", 1 + 43},
		{"Not", "routine -svc3", 299 - 43},
		{"IdentifierSplit", "CERT_USED", 300},
		{"QuotedPhraseAsWords", `"key zanzibar"`, 1},
		{"PunctuationIsNotSyntax", `zanzibar") OR ("x`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := 0
			f := model.EventFilter{Q: c.q, Limit: 1000, Visibility: admin}
			_, err := s.ExportEvents(ctx, f, func(*model.Event) error { n++; return nil })
			if err != nil {
				t.Fatal(err)
			}
			if n != c.want {
				t.Errorf("q=%q matched %d, want %d", c.q, n, c.want)
			}
		})
	}
	if _, err := ftsQuery("-only -negative", nil); model.ErrorCode(err) != model.EINVALID {
		t.Errorf("negative-only query: %v", err)
	}
}

func TestOpenAnyDirectoryName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd #1 ?x=y %20 name")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "vigil.db")
	s, err := Open(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(context.Background(), []model.Event{ev(t, `{"message":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("database not at %s: %v", p, err)
	}
}
