package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"vigil/model"
	"vigil/store"
)

// cmdVerify runs vigil verify: it checks the hash chain, the Merkle tree
// and the checkpoints (stored, kept beside the database and --checkpoint),
// prints OK or FAILED lines and reports whether all held.
func cmdVerify(ctx context.Context, args []string, stdout io.Writer) (bool, error) {
	var loc location
	var checkpointFile, pubKey, tsaCA string
	fs := newFlagSet("verify", &loc)
	fs.StringVar(&checkpointFile, "checkpoint", "", "a signed checkpoint kept off the box: the database must still extend it")
	fs.StringVar(&pubKey, "key", "", "verifier key of the checkpoints (default: derived from DIR/checkpoint.key)")
	fs.StringVar(&tsaCA, "tsa-ca", "", "PEM roots the time-stamping authority's certificate must chain to "+
		"(default: each checkpoint's time-stamp token is checked with the certificate it carries, its chain is not checked)")
	if _, err := parseFlags(fs, args); err != nil {
		return false, err
	}
	var opts store.VerifyOptions
	if tsaCA != "" {
		roots, err := loadRoots(tsaCA)
		if err != nil {
			return false, usageError{"--tsa-ca: " + err.Error()}
		}
		opts.TimestampRoots = roots
	}
	st, err := openExisting(ctx, loc)
	if err != nil {
		return false, err
	}
	defer st.Close()
	if pubKey == "" {
		if key, err := loadCheckpointKey(loc.DataDir, false); err == nil {
			pubKey = key.PublicKey()
		} else if checkpointFile != "" {
			return false, fmt.Errorf("%v; name the verifier key with --key", err)
		}
	}
	opts.PublicKey = pubKey
	// The newest checkpoint kept beside the database is checked too.
	files := []string{checkpointFile}
	if latest := filepath.Join(loc.DataDir, latestCheckpointFile); pubKey != "" {
		if _, err := os.Stat(latest); err == nil {
			files = append(files, latest)
		}
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return false, err
		}
		cp, err := model.OpenCheckpoint(b, pubKey)
		if err != nil {
			fmt.Fprintf(stdout, "FAILED: %s: %v\n", f, err)
			return false, nil
		}
		opts.External = append(opts.External, cp)
	}
	rep, err := st.VerifyChain(ctx, opts)
	if err != nil {
		return false, err
	}
	printVerifyReport(stdout, rep, tsaCA)
	return rep.OK, nil
}

// printVerifyReport prints rep as OK lines, or the FAILED line.
func printVerifyReport(stdout io.Writer, rep store.ChainReport, tsaCA string) {
	if !rep.OK {
		if rep.FirstBad != nil {
			fmt.Fprintf(stdout, "FAILED: first bad sequence id %d: %s (%d events verified before it)\n", *rep.FirstBad, rep.Reason, rep.Checked)
		} else {
			fmt.Fprintf(stdout, "FAILED: %s (%d events verified)\n", rep.Reason, rep.Checked)
		}
		return
	}
	fmt.Fprintf(stdout, "OK: hash chain intact: %d events verified, last id %d, last hash %s\n", rep.Checked, rep.LastID, rep.LastHash)
	fmt.Fprintf(stdout, "OK: Merkle tree of %d events, root %s, matches %d checkpoint(s)\n", rep.TreeSize, rep.RootHash, rep.CheckpointsChecked)
	switch {
	case rep.Timestamps > 0:
		chain := "TSA certificate chain checked against " + tsaCA
		if !rep.TimestampChains {
			chain = "TSA certificate chain not checked (no --tsa-ca): each token's signature was checked with the certificate it carries"
		}
		fmt.Fprintf(stdout, "OK: %d timestamp token(s) verified; %s; trusted time of the newest, stored checkpoint %d: %s\n",
			rep.Timestamps, chain, rep.TrustedTimeCheckpoint, rep.TrustedTime.Format(time.RFC3339Nano))
	case tsaCA != "":
		fmt.Fprintln(stdout, "OK: no stored checkpoint has a timestamp token to check against --tsa-ca")
	}
	if rep.RetentionRecord > 0 {
		fmt.Fprintf(stdout, "OK: retention: the chain starts after event %d, %d removed events' hashes kept, %d events redacted, as retention record %d states\n",
			rep.BaseID, rep.Pruned, rep.Redacted, rep.RetentionRecord)
	}
}

// loadRoots reads a PEM file of CA certificates.
func loadRoots(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return roots, nil
}
