package ingest

import (
	"fmt"
	"testing"
	"time"

	"vigil/internal/sendertest"
	"vigil/model"
	"vigil/store"
)

// rsyslogForward sends every line with omfwd over TCP (framing and
// template per case), with an in-memory queue that retries until the
// receiver takes everything.
const rsyslogForward = `template(name="withSD" type="string"
  string="<%%PRI%%>1 %%TIMESTAMP:::date-rfc3339%% %%HOSTNAME%% %%APP-NAME%% %%PROCID%% CERT_USED [vigil@32473 agent_id=\"rsyslog-1\" outcome=\"ALLOWED\"] %%msg%%")
action(type="omfwd" target="127.0.0.1" port="%[1]s" protocol="tcp" %[2]s
  queue.type="LinkedList" queue.size="20000" action.resumeRetryCount="-1")
`

// TestRsyslogForwarding has Debian's rsyslog forward lines to the TCP
// listener: 5,000 as RFC 5424 with structured data, octet-counted, and
// 1,000 in rsyslog's own forward format (BSD syslog with an RFC 3339
// time), newline-framed. All of them must be stored, once.
func TestRsyslogForwarding(t *testing.T) {
	rsyslogd := sendertest.Path(t)
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
	in := make([]string, lines)
	for i := range in {
		in[i] = rsyslogLine(i)
	}
	sendertest.Forward(t, rsyslogd, in, fmt.Sprintf(rsyslogForward, port(addr), action))
}
