// Command vigil is an on-prem audit, event and certificate-monitoring
// appliance: one binary, one data directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usage is the command overview printed by vigil help.
const usage = `vigil: audit, event and certificate-monitoring appliance

Usage:
  vigil [serve] [flags]                       run the appliance
  vigil verify [--checkpoint FILE]            check the hash chain, Merkle tree and checkpoints
  vigil verify-export FILE --key KEY          check an export bundle off the box, without a database
  vigil user add NAME --role ROLE             create a user (password on stdin or VIGIL_PASSWORD)
  vigil token create --user NAME --name LABEL [--scope ingest|agent|read|manage] [--agent ID]
  vigil backup --out FILE                     consistent online copy of the database
  vigil copy --from DIR --to postgres://...   move an SQLite store into an empty PostgreSQL database
  vigil healthcheck [--http ADDR]             exit 0 when the appliance at ADDR answers /healthz
  vigil --version

Every command takes --data DIR (default ./data, env VIGIL_DATA) and
--database postgres://... (env VIGIL_DATABASE) for a store on PostgreSQL.
Every flag X also reads the environment variable VIGIL_X (upper snake case).
Run "vigil COMMAND --help" for a command's flags.
`

// run dispatches a command line and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, stderr)
	case "verify", "verify-export":
		check := cmdVerify
		if cmd == "verify-export" {
			check = cmdVerifyExport
		}
		var ok bool
		ok, err = check(ctx, args, stdout)
		if err == nil && !ok {
			return 1
		}
	case "user":
		err = cmdUser(ctx, args, stdin, stdout)
	case "token":
		err = cmdToken(ctx, args, stdout)
	case "backup":
		err = cmdBackup(ctx, args, stdout)
	case "copy":
		err = cmdCopy(ctx, args, stdout)
	case "healthcheck":
		err = cmdHealthcheck(ctx, args, stdout)
	case "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errVersion) {
		fmt.Fprintf(stdout, "vigil %s\n", version)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil %s: %v\n", cmd, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

var errVersion = errors.New("version requested")

// usageError is a mistake on the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
