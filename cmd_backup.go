package main

import (
	"context"
	"fmt"
	"io"
)

// cmdBackup runs vigil backup --out FILE: a consistent copy of the
// database, also while serve runs.
func cmdBackup(ctx context.Context, args []string, stdout io.Writer) error {
	var loc location
	var out string
	fs := newFlagSet("backup", &loc)
	fs.StringVar(&out, "out", "", "file to write the copy to (must not exist)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if out == "" {
		return usageError{"usage: vigil backup --out FILE"}
	}
	st, err := openExisting(ctx, loc)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Backup(ctx, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s\n", out)
	return nil
}
