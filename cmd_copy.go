package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"vigil/store"
)

// cmdCopy runs vigil copy --from DIR --to postgres://…: it moves a box's
// SQLite store into an empty PostgreSQL database with ids and hashes
// unchanged, so that checkpoints signed before the move still verify.
func cmdCopy(ctx context.Context, args []string, stdout io.Writer) error {
	var from, to string
	fs := newFlagSetOnly("copy")
	fs.StringVar(&from, "from", "", "data directory of the SQLite store to copy (vigil serve stopped)")
	fs.StringVar(&to, "to", "", "the empty PostgreSQL database to copy it into (postgres://user@host:port/db)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if from == "" || to == "" {
		return usageError{"usage: vigil copy --from DIR --to postgres://user@host:port/db"}
	}
	if !store.IsDatabaseURL(to) {
		return usageError{"--to: a PostgreSQL URL (postgres://user@host:port/db)"}
	}
	srcPath := filepath.Join(from, "vigil.db")
	if _, err := os.Stat(srcPath); err != nil {
		return fmt.Errorf("no database at %s (see --from)", srcPath)
	}
	src, err := store.Open(ctx, srcPath, store.Options{})
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := store.Open(ctx, to, store.Options{})
	if err != nil {
		return err
	}
	defer dst.Close()
	err = src.CopyTo(ctx, dst, func(table string, rows int64) {
		if rows > 0 {
			fmt.Fprintf(stdout, "copied %s: %d rows\n", table, rows)
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %s into %s; keep %s beside every node (see docs/operations.md)\n",
		srcPath, store.RedactURL(to), filepath.Join(from, checkpointKeyFile))
	return nil
}
