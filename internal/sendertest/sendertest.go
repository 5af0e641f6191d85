// Package sendertest runs real syslog senders for tests (Debian's
// rsyslogd, syslog-ng): in the foreground, with the test's own
// configuration, never as a service.
package sendertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vigil/internal/syncbuf"
	"vigil/internal/testtools"
)

// Path returns the rsyslogd executable, or skips the test when rsyslog is
// not installed (see testtools.Require).
func Path(t testing.TB) string {
	t.Helper()
	return testtools.Require(t, "rsyslogd")
}

// Forward runs rsyslogd reading lines from a file (imfile, as program
// certagent, severity notice, facility local3) and sending them with the
// forwarding configuration forward (templates and an omfwd action), until
// the test ends.
func Forward(t testing.TB, rsyslogd string, lines []string, forward string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.log")
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	input := fmt.Sprintf(`global(workDirectory=%q)
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File=%q Tag="certagent:" Severity="notice" Facility="local3" ReadMode="0")
`, filepath.Join(dir, "work"), in)
	conf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(input+forward), 0o600); err != nil {
		t.Fatal(err)
	}
	Start(t, rsyslogd, dir, conf)
}

// Start runs rsyslogd with the configuration file conf (its pid file in
// dir) until the test ends.
func Start(t testing.TB, rsyslogd, dir, conf string) {
	t.Helper()
	Run(t, rsyslogd, []string{"-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid")}, nil)
}

// Run runs the program path with args (and env, when not nil) until the
// test ends; its output is logged when the test failed.
func Run(t testing.TB, path string, args, env []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(path), out.String())
		}
	})
}
