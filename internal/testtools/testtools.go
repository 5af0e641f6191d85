// Package testtools finds the programs the tests run beside Vigil
// (chromium, rsyslogd, logger, syslog-ng, ...). When one is missing the
// tests that need it are skipped, and each skip is recorded for the
// summary make test prints at the end, one line per group; with
// VIGIL_TEST_REQUIRE_ALL=1 (.ci/run) a missing program fails the test
// instead. .ci/test-deps installs them all.
//
// Environment:
//   - VIGIL_TEST_SKIPS: a file each skip appends a line to (make test sets it).
//   - VIGIL_TEST_REQUIRE_ALL=1: a missing program is a failure, never a skip.
//   - VIGIL_TEST_HIDE=chromium,rsyslogd: these programs count as missing
//     (to see the skips and the summary on a machine that has them).
package testtools

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// tool is a program the tests run: the group of tests that need it and
// the Debian packages that provide it.
type tool struct{ group, packages string }

// tools are the programs Require knows; .ci/test-deps installs their packages.
var tools = map[string]tool{
	"chromium": {"browser", "chromium"},
	"rsyslogd": {"rsyslog", "rsyslog rsyslog-gnutls"},
	"logger":   {"logger", "bsdutils"},
	"python3":  {"python3", "python3"},
	"openssl":  {"openssl", "openssl"},
	"curl":     {"curl", "curl"},
	"bash":     {"bash", "bash"},
}

// Require returns the path of the program name, found in PATH, or skips
// the test (failing it under VIGIL_TEST_REQUIRE_ALL=1) when it is missing.
func Require(t testing.TB, name string) string {
	t.Helper()
	tl, ok := tools[name]
	if !ok {
		t.Fatalf("testtools: unknown program %q", name)
	}
	if Hidden(name) {
		Missing(t, tl.group, name+" not found (hidden by VIGIL_TEST_HIDE)", "apt-get install -y "+tl.packages)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, tl.group, name+" not found", "apt-get install -y "+tl.packages)
	}
	return p
}

// Hidden reports whether VIGIL_TEST_HIDE names the program name.
func Hidden(name string) bool {
	return slices.Contains(strings.Split(os.Getenv("VIGIL_TEST_HIDE"), ","), name)
}

// Missing skips the test because the group's program is not usable (what
// says why, fix how to get it), recording the skip in VIGIL_TEST_SKIPS;
// under VIGIL_TEST_REQUIRE_ALL=1 it fails the test instead.
func Missing(t testing.TB, group, what, fix string) {
	t.Helper()
	line := fmt.Sprintf("SKIPPED GROUP %s: %s — install it with %s (as root, .ci/test-deps does)", group, what, fix)
	if os.Getenv("VIGIL_TEST_REQUIRE_ALL") == "1" {
		t.Fatalf("%s; VIGIL_TEST_REQUIRE_ALL=1 allows no skipped group", line)
	}
	if path := os.Getenv("VIGIL_TEST_SKIPS"); path != "" {
		// One short append per skip: concurrent test binaries do not interleave.
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			fmt.Fprintf(f, "%s\t%s\n", line, t.Name())
			f.Close()
		} else {
			t.Logf("recording the skip in %s: %v", path, err)
		}
	}
	t.Skip(line)
}
