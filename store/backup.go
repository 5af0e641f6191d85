package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
)

// Backup writes a consistent copy of the database to out while writes go
// on: VACUUM INTO reads one snapshot and never blocks the writer. out must
// not exist yet.
func (s *Store) Backup(ctx context.Context, out string) error {
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("store: backup: %s already exists", out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: backup: %w", err)
	}
	db, err := sql.Open("sqlite3", fileURI(s.path, url.Values{"_busy_timeout": {"10000"}}))
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		return fmt.Errorf("store: backup to %s: %w", out, err)
	}
	return nil
}
