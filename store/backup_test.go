package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupIsPrivate: a backup holds password hashes and token hashes, so
// only its owner may read it, whatever the umask; an existing file is
// never overwritten.
func TestBackupIsPrivate(t *testing.T) {
	sqliteOnly(t, "VACUUM INTO backup (PostgreSQL: TestBackupPointsToPostgresTools)")
	ctx := context.Background()
	s := openTest(t)
	appendN(t, s, 10, 10)
	dir := t.TempDir()
	out := filepath.Join(dir, "backup.db")
	if err := s.Backup(ctx, out); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("backup mode %04o, want 0600", mode)
	}
	if fi.Size() == 0 {
		t.Error("backup is empty")
	}

	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, existing); err == nil {
		t.Error("backup overwrote an existing file")
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("existing file changed to %q", b)
	}
}

// TestBackupPointsToPostgresTools: on PostgreSQL vigil backup writes
// nothing and names the tools that copy the database.
func TestBackupPointsToPostgresTools(t *testing.T) {
	if !onPostgres() {
		t.Skip("PostgreSQL engine only: SQLite's backup is TestBackupIsPrivate")
	}
	s := openTest(t)
	out := filepath.Join(t.TempDir(), "copy.db")
	err := s.Backup(context.Background(), out)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || !strings.Contains(err.Error(), "pg_basebackup") {
		t.Fatalf("backup on PostgreSQL: %v; want a pointer to pg_dump and pg_basebackup", err)
	}
	if _, serr := os.Stat(out); !os.IsNotExist(serr) {
		t.Fatalf("backup left %s: %v", out, serr)
	}
}
