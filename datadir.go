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

// openStore creates the data directory if needed and opens the database.
func openStore(ctx context.Context, dataDir string, opts store.Options) (*store.Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return store.Open(ctx, filepath.Join(dataDir, "vigil.db"), opts)
}

// openExisting opens the database of dataDir, which must exist.
func openExisting(ctx context.Context, dataDir string) (*store.Store, error) {
	p := filepath.Join(dataDir, "vigil.db")
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("no database at %s (see --data)", p)
	}
	return openStore(ctx, dataDir, store.Options{})
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
