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

	"vigil/model"
	"vigil/store"
)

// rsyslogConf reads a file with imfile and forwards every line with omfwd
// over TCP (framing and template per case), with an in-memory queue that
// retries until the receiver takes everything.
const rsyslogConf = `global(workDirectory="%[1]s/work")
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="%[1]s/in.log" Tag="certagent:" Severity="notice" Facility="local3" ReadMode="0")
template(name="withSD" type="string"
  string="<%%PRI%%>1 %%TIMESTAMP:::date-rfc3339%% %%HOSTNAME%% %%APP-NAME%% %%PROCID%% CERT_USED [vigil@32473 agent_id=\"rsyslog-1\" outcome=\"ALLOWED\"] %%msg%%")
action(type="omfwd" target="127.0.0.1" port="%[2]s" protocol="tcp" %[3]s
  queue.type="LinkedList" queue.size="20000" action.resumeRetryCount="-1")
`

// TestRsyslogForwarding has Debian's rsyslog forward lines to the TCP
// listener: 5,000 as RFC 5424 with structured data, octet-counted, and
// 1,000 in rsyslog's own forward format (BSD syslog with an RFC 3339
// time), newline-framed. All of them must be stored, once.
func TestRsyslogForwarding(t *testing.T) {
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		t.Skip("rsyslogd is not installed (apt-get install rsyslog); skipping the rsyslog forwarding test")
	}
	cases := []struct {
		name   string
		action string
		lines  int
		check  func(e model.Event) bool
	}{
		{"RFC5424OctetCounted", `TCP_Framing="octet-counted" template="withSD"`, 5000, func(e model.Event) bool {
			return e.Type == "CERT_USED" && e.AgentID == "rsyslog-1" && e.Outcome == "ALLOWED"
		}},
		{"ForwardFormatLineFramed", `TCP_Framing="traditional" template="RSYSLOG_ForwardFormat"`, 1000, func(e model.Event) bool {
			// The sender's RFC 3339 time (microseconds), not the receive time.
			return e.Type == "EVENT" && e.Host != "" && e.Time.Before(e.ReceivedAt) && e.Time.Nanosecond()%1000 == 0 &&
				e.ReceivedAt.Sub(e.Time) < time.Minute
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, store.Options{}, "tcp")
			runRsyslog(t, rsyslogd, h.tcp, tc.action, tc.lines)
			evs := h.waitEvents(t, tc.lines, 60*time.Second)
			seen := map[string]int{}
			for _, e := range evs {
				seen[e.Message]++
				d := detailsOf(t, e)
				if !tc.check(e) || e.App != "certagent" || e.Severity != "notice" || d["facility"] != "local3" || d["parse_error"] != nil {
					t.Fatalf("event mapped as %+v, details %s", e, e.Details)
				}
			}
			for i := range tc.lines {
				if m := rsyslogLine(i); seen[m] != 1 {
					t.Fatalf("%q stored %d times", m, seen[m])
				}
			}
			if len(evs) != tc.lines {
				t.Errorf("%d events stored, want %d", len(evs), tc.lines)
			}
			if got := h.metric(t, "stored_total", "tcp"); got != float64(tc.lines) {
				t.Errorf("stored metric %v", got)
			}
		})
	}
}

func rsyslogLine(i int) string {
	return fmt.Sprintf("line-%05d renewal check passed for cert %d", i, i)
}

// runRsyslog runs rsyslogd in the foreground with its own configuration and
// work directory, forwarding lines lines to addr, until the test ends.
func runRsyslog(t *testing.T, rsyslogd, addr, action string, lines int) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range lines {
		in.WriteString(rsyslogLine(i) + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "in.log"), []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(rsyslogConf, dir, port(addr), action)), 0o600); err != nil {
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
}
