package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"vigil/model"
	"vigil/store"
)

// cmdVerifyExport runs vigil verify-export FILE --key KEY: it checks an
// export bundle off the box, with no database, prints OK with its counts
// or FAILED naming what is wrong, and reports whether it held.
func cmdVerifyExport(_ context.Context, args []string, stdout io.Writer) (bool, error) {
	var loc location
	var key string
	fs := newFlagSet("verify-export", &loc)
	fs.StringVar(&key, "key", "", "the checkpoints' verifier key (name+hash+base64, as the settings page and GET /api/v1/audit/checkpoint show it) or a file holding it")
	files, err := parseFlags(fs, args)
	if err != nil {
		return false, err
	}
	if len(files) != 1 || key == "" {
		return false, usageError{"usage: vigil verify-export FILE --key KEY"}
	}
	vkey, err := verifierKey(key)
	if err != nil {
		return false, err
	}
	f, err := os.Open(files[0])
	if err != nil {
		return false, err
	}
	defer f.Close()
	rep, err := store.VerifyBundle(f, vkey)
	if err != nil {
		fmt.Fprintf(stdout, "FAILED: %s: %v\n", files[0], err)
		return false, nil
	}
	fmt.Fprintf(stdout, "OK: checkpoint of %d events signed by %s at %s\n", rep.Checkpoint.Size, rep.Checkpoint.Origin, rep.Checkpoint.Time.UTC().Format("2006-01-02T15:04:05Z"))
	fmt.Fprintf(stdout, "OK: %d events proven in the checkpoint's tree: %d with their content, %d redacted by retention (commitment only)\n", rep.Count, rep.Intact, rep.Redacted)
	if rep.Contiguous {
		fmt.Fprintf(stdout, "OK: contiguous: every event from %d to %d is in the bundle\n", rep.FirstID, rep.LastID)
		if size := int64(rep.Checkpoint.Size); rep.LastID < size {
			// The range is the bundle's word: only its end against the
			// checkpoint shows whether it was cut short.
			fmt.Fprintf(stdout, "NOTE: the log held %d events at the checkpoint; events %d to %d are not in this bundle\n", size, rep.LastID+1, size)
		} else {
			fmt.Fprintf(stdout, "OK: the range ends at the checkpoint's last event\n")
		}
	} else {
		fmt.Fprintf(stdout, "OK: not contiguous (a filtered export): nothing shows whether events of the filter were left out\n")
	}
	return true, nil
}

// verifierKey returns the verifier key that arg names: the key itself, or
// a file holding it. A file holding the signing key (checkpoint.key)
// stands for its verifier key.
func verifierKey(arg string) (string, error) {
	text := arg
	if b, err := os.ReadFile(arg); err == nil {
		text = string(b)
	} else if !strings.Contains(arg, "+") {
		return "", fmt.Errorf("--key: %q is neither a readable file nor a verifier key", arg)
	}
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "PRIVATE+KEY+") {
		k, err := model.ParseCheckpointKey(text)
		if err != nil {
			return "", fmt.Errorf("--key: %w", err)
		}
		return k.PublicKey(), nil
	}
	return text, nil
}
