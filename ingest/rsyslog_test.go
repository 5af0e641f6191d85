package ingest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/store"
)

// rsyslogConf reads a file with imfile and forwards every line with omfwd
// as RFC 5424, octet-counted over TCP, with a disk-assisted queue that
// retries until the receiver takes it.
const rsyslogConf = `global(workDirectory="%[1]s/work")
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="%[1]s/in.log" Tag="certagent" Severity="notice" Facility="local3" ReadMode="0")
template(name="withSD" type="string"
  string="<%%PRI%%>1 %%TIMESTAMP:::date-rfc3339%% %%HOSTNAME%% %%APP-NAME%% %%PROCID%% CERT_USED [vigil@32473 agent_id=\"rsyslog-1\" outcome=\"ALLOWED\"] %%msg%%")
action(type="omfwd" target="127.0.0.1" port="%[2]s" protocol="tcp" TCP_Framing="octet-counted"
  template="withSD" queue.type="LinkedList" queue.size="20000" action.resumeRetryCount="-1")
`

// TestRsyslogForwarding has Debian's rsyslog forward 5,000 lines to the
// TCP listener (RFC 5424, octet counting): all of them must be stored.
func TestRsyslogForwarding(t *testing.T) {
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		t.Skip("rsyslogd is not installed (apt-get install rsyslog); skipping the rsyslog forwarding test")
	}
	const lines = 5000
	h := newHarness(t, Config{}, store.Options{}, "tcp")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range lines {
		fmt.Fprintf(&in, "line-%05d renewal check passed for cert %d\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "in.log"), []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(rsyslogConf, dir, port(h.tcp))), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", out.String())
		}
	})

	evs := h.waitEvents(t, lines, 60*time.Second)
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.Message]++
		if e.Type != "CERT_USED" || e.AgentID != "rsyslog-1" || e.Outcome != "ALLOWED" || e.App != "certagent" ||
			e.Severity != "notice" {
			t.Fatalf("event mapped as %+v", e)
		}
		if d := detailsOf(t, e); d["facility"] != "local3" {
			t.Fatalf("details %s", e.Details)
		}
	}
	for i := range lines {
		if m := fmt.Sprintf("line-%05d renewal check passed for cert %d", i, i); seen[m] != 1 {
			t.Fatalf("%q stored %d times", m, seen[m])
		}
	}
	if len(evs) != lines {
		t.Errorf("%d events stored, want %d", len(evs), lines)
	}
	if got := h.metric(t, "stored_total", "tcp"); got != lines {
		t.Errorf("stored metric %v", got)
	}
}
