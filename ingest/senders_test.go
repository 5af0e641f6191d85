package ingest

import (
	"fmt"
	"log/syslog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"vigil/internal/sendertest"
	"vigil/internal/testtools"
	"vigil/model"
	"vigil/store"
)

// pythonSender logs three warnings through logging.handlers.SysLogHandler
// with its defaults (NUL after each message, no framing over TCP) and a
// "tag[pid]: " formatter, facility local3.
const pythonSender = `
import logging, logging.handlers, socket, sys
proto, port = sys.argv[1], int(sys.argv[2])
h = logging.handlers.SysLogHandler(address=("127.0.0.1", port),
    facility=logging.handlers.SysLogHandler.LOG_LOCAL3,
    socktype=socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
h.setFormatter(logging.Formatter("myapp[%(process)d]: %(message)s"))
log = logging.getLogger("vigil-test")
log.addHandler(h)
for i in range(3):
    log.warning("disk almost full %d", i)
h.close()
`

// TestPythonSysLogHandler sends with Python's SysLogHandler over UDP and
// TCP: each message is one event with its tag, pid, severity and facility.
func TestPythonSysLogHandler(t *testing.T) {
	python := testtools.Require(t, "python3")
	h := newHarness(t, Config{}, store.Options{}, "udp", "tcp")
	script := filepath.Join(t.TempDir(), "sender.py")
	if err := os.WriteFile(script, []byte(pythonSender), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ proto, addr, source string }{
		{"udp", h.udp, model.SourceSyslogUDP}, {"tcp", h.tcp, model.SourceSyslogTCP},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			cmd := exec.Command(python, script, tc.proto, port(tc.addr))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("python: %v\n%s", err, out)
			}
			pid := strconv.Itoa(cmd.Process.Pid)
			evs := h.waitEvents(t, 3*(i+1), 10*time.Second)
			for j, e := range evs[3*i:] {
				d := detailsOf(t, e)
				if want := fmt.Sprintf("disk almost full %d", j); e.Message != want || e.App != "myapp" || e.Process != pid ||
					e.Severity != "warning" || d["facility"] != "local3" || e.Source != tc.source || e.Type == TypeUnparsed {
					t.Errorf("event %d: source %s type %s app %q process %q (pid %s) severity %s message %q details %s",
						j, e.Source, e.Type, e.App, e.Process, pid, e.Severity, e.Message, e.Details)
				}
			}
		})
	}
}

// TestGoLogSyslog sends with Go's log/syslog over UDP and TCP.
func TestGoLogSyslog(t *testing.T) {
	h := newHarness(t, Config{}, store.Options{}, "udp", "tcp")
	host, _ := os.Hostname()
	for i, tc := range []struct{ proto, addr string }{{"udp", h.udp}, {"tcp", h.tcp}} {
		t.Run(tc.proto, func(t *testing.T) {
			w, err := syslog.Dial(tc.proto, tc.addr, syslog.LOG_WARNING|syslog.LOG_DAEMON, "goagent")
			if err != nil {
				t.Fatal(err)
			}
			msg := "certificate renewed over " + tc.proto
			if err := w.Warning(msg); err != nil {
				t.Fatal(err)
			}
			w.Close()
			e := h.waitEvents(t, i+1, 10*time.Second)[i]
			d := detailsOf(t, e)
			if e.Message != msg || e.App != "goagent" || e.Process != strconv.Itoa(os.Getpid()) || e.Host != host ||
				e.Severity != "warning" || d["facility"] != "daemon" || time.Since(e.Time) > time.Minute || d["parse_error"] != nil {
				t.Errorf("event %+v details %s", e, e.Details)
			}
		})
	}
}

// TestRsyslogDefaultForwardTemplates has rsyslog relay lines whose tag has
// no colon ("appA[4242]") with each of its two default forward templates.
func TestRsyslogDefaultForwardTemplates(t *testing.T) {
	rsyslogd := sendertest.Path(t)
	for _, template := range []string{"RSYSLOG_TraditionalForwardFormat", "RSYSLOG_ForwardFormat"} {
		t.Run(template, func(t *testing.T) {
			h := newHarness(t, Config{}, store.Options{}, "tcp")
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
				t.Fatal(err)
			}
			const lines = 50
			in := filepath.Join(dir, "in.log")
			var text string
			for i := range lines {
				text += rsyslogLine(i) + "\n"
			}
			if err := os.WriteFile(in, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(dir, "rsyslog.conf")
			if err := os.WriteFile(conf, []byte(fmt.Sprintf(`global(workDirectory=%q)
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File=%q Tag="appA[4242]" Severity="notice" Facility="local3")
action(type="omfwd" target="127.0.0.1" port="%s" protocol="tcp" TCP_Framing="traditional" template=%q
  queue.type="LinkedList" action.resumeRetryCount="-1")
`, filepath.Join(dir, "work"), in, port(h.tcp), template)), 0o600); err != nil {
				t.Fatal(err)
			}
			sendertest.Start(t, rsyslogd, dir, conf)
			evs := h.waitEvents(t, lines, 60*time.Second)
			for i, e := range evs {
				if e.App != "appA" || e.Process != "4242" || e.Message != rsyslogLine(i) || e.Host == "" || e.Severity != "notice" ||
					e.ReceivedAt.Sub(e.Time) > time.Minute {
					t.Fatalf("event %d: host %q app %q process %q severity %s time %v message %q", i, e.Host, e.App, e.Process, e.Severity, e.Time, e.Message)
				}
			}
		})
	}
}
