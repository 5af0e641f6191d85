package ingest

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"vigil/internal/testtools"
	"vigil/model"
	"vigil/store"
)

// TestLoggerSenders sends with util-linux logger over each transport and
// framing and checks every mapped field of the stored event.
func TestLoggerSenders(t *testing.T) {
	testtools.Require(t, "logger")
	h := newHarness(t, Config{}, store.Options{}, "udp", "tcp")
	sd := []string{
		"--sd-id", "vigil@32473",
		"--sd-param", `user="alice"`, "--sd-param", `ip="10.0.0.7"`, "--sd-param", `agent_id="agent-7"`,
		"--sd-param", `category="AUTH"`, "--sd-param", `outcome="FAILURE"`, "--sd-param", `tenant="acme"`,
		"--sd-param", `cert_serial="0A1B"`, "--sd-param", `note="say \"hi\""`,
	}
	cases := []struct {
		name      string
		transport []string
		format    string
		source    string
	}{
		{"UDP", []string{"--udp", "--port", port(h.udp)}, "--rfc5424", model.SourceSyslogUDP},
		{"UDPWithOctetCount", []string{"--udp", "--octet-count", "--port", port(h.udp)}, "--rfc5424", model.SourceSyslogUDP},
		{"TCPLineFraming", []string{"--tcp", "--port", port(h.tcp)}, "--rfc5424", model.SourceSyslogTCP},
		{"TCPOctetCount", []string{"--tcp", "--octet-count", "--port", port(h.tcp)}, "--rfc5424", model.SourceSyslogTCP},
		{"RFC3164TCP", []string{"--tcp", "--port", port(h.tcp)}, "--rfc3164", model.SourceSyslogTCP},
		{"RFC3164UDP", []string{"--udp", "--port", port(h.udp)}, "--rfc3164", model.SourceSyslogUDP},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := fmt.Sprintf("login failed for alice (%s)", tc.name)
			args := append([]string{"--server", "127.0.0.1", tc.format, "--tag", "ca-agent", "--id=4242",
				"--priority", "auth.warning", "--msgid", "E_LOGIN_FAILED"}, tc.transport...)
			args = append(append(args, sd...), msg)
			if out, err := exec.Command("logger", args...).CombinedOutput(); err != nil {
				t.Fatalf("logger %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			evs := h.waitEvents(t, i+1, 10*time.Second)
			e := evs[i]
			if e.Message != msg {
				t.Fatalf("message %q, want %q (event %+v)", e.Message, msg, e)
			}
			d := detailsOf(t, e)
			if e.Source != tc.source || e.Severity != "warning" || e.App != "ca-agent" || e.Process != "4242" ||
				e.Host == "" || d["peer"] != "127.0.0.1" || d["facility"] != "auth" {
				t.Errorf("header fields: source %s severity %s app %s process %s host %q details %s",
					e.Source, e.Severity, e.App, e.Process, e.Host, e.Details)
			}
			if time.Since(e.Time) > time.Minute || time.Until(e.Time) > time.Minute {
				t.Errorf("time %v, want about now", e.Time)
			}
			if tc.format == "--rfc3164" {
				if d["format"] != "rfc3164" || e.Type != "EVENT" {
					t.Errorf("format %v type %s", d["format"], e.Type)
				}
				return
			}
			if e.Type != "E_LOGIN_FAILED" || e.Category != "AUTH" || e.Outcome != "FAILURE" ||
				e.Actor != (model.Actor{Type: "USER", ID: "alice", IP: "10.0.0.7"}) || e.AgentID != "agent-7" ||
				e.Tenant != "acme" || e.Certificate.Serial != "0A1B" {
				t.Errorf("mapped fields: %+v", e)
			}
			if got := sdOf(t, e, "vigil@32473", "note"); got != `say "hi"` {
				t.Errorf("details.sd note %q (details %s)", got, e.Details)
			}
			if got := sdOf(t, e, "timeQuality", "tzKnown"); got != "1" {
				t.Errorf("logger's timeQuality SD not kept: %s", e.Details)
			}
		})
	}
	// The listener counts an event once its commit returns, which is just
	// after a reader can see it.
	stored := func() float64 { return h.metric(t, "stored_total", "tcp") + h.metric(t, "stored_total", "udp") }
	for deadline := time.Now().Add(5 * time.Second); stored() < float64(len(cases)) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := stored(); got != float64(len(cases)) {
		t.Errorf("stored metric %v, want %d", got, len(cases))
	}
}

func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// TestIPv6Senders sends over ::1 on both transports: the peer address is
// the plain IPv6 address.
func TestIPv6Senders(t *testing.T) {
	testtools.Require(t, "logger")
	h := newHarness(t, Config{}, store.Options{})
	udp, err := h.srv.ListenUDP("[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	tcp, err := h.srv.ListenTCP("[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ proto, addr, source string }{
		{"--udp", udp.String(), model.SourceSyslogUDP}, {"--tcp", tcp.String(), model.SourceSyslogTCP},
	} {
		if out, err := exec.Command("logger", "--server", "::1", "--port", port(tc.addr), tc.proto, "--rfc5424",
			"over ipv6 "+tc.proto).CombinedOutput(); err != nil {
			t.Fatalf("logger: %v %s", err, out)
		}
		e := h.waitEvents(t, i+1, 10*time.Second)[i]
		if e.Message != "over ipv6 "+tc.proto || e.Source != tc.source || detailsOf(t, e)["peer"] != "::1" {
			t.Errorf("event %+v details %s", e, e.Details)
		}
	}
}
