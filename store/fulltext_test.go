package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
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
		s, err := Open(ctx, dbPath, os.DirFS(".."), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	appendN(t, s, 500, 100)
	if n := countSearch(t, s, "leaf"); n != 500 {
		t.Fatalf("found %d, want 500", n)
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
		})
	}
}
