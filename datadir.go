package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"vigil/model"
	"vigil/store"
)

// openStore creates the data directory if needed and opens the database:
// loc.Database, a PostgreSQL URL, or DIR/vigil.db.
func openStore(ctx context.Context, loc location, opts store.Options) (*store.Store, error) {
	if err := loc.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(loc.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return store.Open(ctx, loc.target(), opts)
}

// target is what store.Open opens.
func (loc location) target() string {
	if loc.Database != "" {
		return loc.Database
	}
	return filepath.Join(loc.DataDir, "vigil.db")
}

// check refuses a --database that is not a PostgreSQL URL.
func (loc location) check() error {
	if loc.Database != "" && !store.IsDatabaseURL(loc.Database) {
		return usageError{"--database: a PostgreSQL URL (postgres://user@host:port/db); without it the store is DIR/vigil.db in --data"}
	}
	return nil
}

// openExisting opens the database of loc, which must exist.
func openExisting(ctx context.Context, loc location) (*store.Store, error) {
	if err := loc.check(); err != nil {
		return nil, err
	}
	if loc.Database == "" {
		p := loc.target()
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("no database at %s (see --data and --database)", p)
		}
	}
	return openStore(ctx, loc, store.Options{})
}

// checkpointKeyFile is the Ed25519 key that signs checkpoints, in the data
// directory; it never leaves the box.
const checkpointKeyFile = "checkpoint.key"

// latestCheckpointFile holds the newest checkpoint's signed note outside the
// database, so that restoring an older database is noticed.
const latestCheckpointFile = "checkpoint.latest"

// loadCheckpointKey reads the checkpoint signing key of dataDir, creating
// it on first start (create false: it must exist).
func loadCheckpointKey(dataDir string, create bool) (*model.CheckpointKey, error) {
	p := filepath.Join(dataDir, checkpointKeyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) && create {
		host, _ := os.Hostname()
		if host == "" {
			host = "localhost"
		}
		origin := fmt.Sprintf("%s/vigil/%s", strings.ToLower(host), model.NewSecret(6))
		text, err := model.NewCheckpointKeyText(origin)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(text+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("checkpoint key: %w", err)
		}
		b = []byte(text)
	} else if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	return model.ParseCheckpointKey(string(b))
}
