package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Backup writes a consistent copy of the database to out while writes go
// on (see engine.backup). The copy holds password and token hashes, so out
// is created readable by its owner only (0600); it must not exist yet and
// is never overwritten.
func (s *Store) Backup(ctx context.Context, out string) error {
	return s.eng.backup(ctx, out)
}

// createPrivate creates the empty file out, exclusively, with mode 0600.
func createPrivate(out string) error {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("store: backup: %s already exists", out)
	}
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	// The mode given to OpenFile is narrowed by the umask, never widened;
	// Chmod makes it exactly 0600.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(out)
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(out)
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}
