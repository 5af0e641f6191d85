package testtools

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestChildRequireChromium is run by TestMissingToolSkipsOrFails as a
// child process with its environment; on its own it finds chromium or skips.
func TestChildRequireChromium(t *testing.T) {
	if os.Getenv("VIGIL_TESTTOOLS_CHILD") != "1" {
		t.Skip("run by TestMissingToolSkipsOrFails")
	}
	Require(t, "chromium")
}

// TestMissingToolSkipsOrFails runs a test needing chromium with chromium
// hidden: it is skipped with one SKIPPED GROUP line in VIGIL_TEST_SKIPS,
// and with VIGIL_TEST_REQUIRE_ALL=1 it fails instead, recording nothing.
func TestMissingToolSkipsOrFails(t *testing.T) {
	skips := filepath.Join(t.TempDir(), "skips")
	run := func(extra ...string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestChildRequireChromium$", "-test.v")
		cmd.Env = append(os.Environ(), append([]string{"VIGIL_TESTTOOLS_CHILD=1", "VIGIL_TEST_HIDE=rsyslogd,chromium",
			"VIGIL_TEST_SKIPS=" + skips, "VIGIL_TEST_REQUIRE_ALL="}, extra...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "--- SKIP: TestChildRequireChromium") {
		t.Fatalf("hidden chromium: %v, want a skip:\n%s", err, out)
	}
	b, err := os.ReadFile(skips)
	if err != nil {
		t.Fatal(err)
	}
	want := "SKIPPED GROUP browser: chromium not found (hidden by VIGIL_TEST_HIDE) — install it with apt-get install -y chromium (as root, .ci/test-deps does)\tTestChildRequireChromium\n"
	if string(b) != want {
		t.Fatalf("skips file:\n%q\nwant\n%q", b, want)
	}

	out, err = run("VIGIL_TEST_REQUIRE_ALL=1")
	if err == nil || !strings.Contains(out, "--- FAIL: TestChildRequireChromium") || !strings.Contains(out, "VIGIL_TEST_REQUIRE_ALL=1 allows no skipped group") {
		t.Fatalf("hidden chromium under VIGIL_TEST_REQUIRE_ALL=1: %v, want a failure:\n%s", err, out)
	}
	if b2, _ := os.ReadFile(skips); string(b2) != want {
		t.Fatalf("a failure was recorded as a skip:\n%q", b2)
	}
}
