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
// on: VACUUM INTO reads one snapshot and never blocks the writer. The copy
// holds password and token hashes, so out is created readable by its owner
// only (0600); it must not exist yet and is never overwritten.
func (s *Store) Backup(ctx context.Context, out string) (err error) {
	// VACUUM INTO fills an empty file it is given; creating that file here,
	// exclusively, sets its mode and refuses an existing one in one step.
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("store: backup: %s already exists", out)
	}
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(out)
		}
	}()
	// The mode given to OpenFile is narrowed by the umask, never widened;
	// Chmod makes it exactly 0600.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := f.Close(); err != nil {
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
