package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"vigil/internal/testtools"
)

// TestSyslogEndToEnd runs serve with its syslog listeners, sends with
// util-linux logger over UDP, TCP with both framings and as RFC 3164,
// reads each event back through the API, and checks that shutdown stores
// everything already sent.
func TestSyslogEndToEnd(t *testing.T) {
	testtools.Require(t, "logger")
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	addrs, stop := serveArgs(t, "--data", dir, "--http", "127.0.0.1:0",
		"--syslog-udp", "127.0.0.1:0", "--syslog-tcp", "127.0.0.1:0", "--syslog-tz", "Europe/Berlin")
	url := "http://" + addrs["http"]
	_, read, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "reader", "--scope", "read")
	read = strings.TrimSpace(read)

	type event struct {
		Source   string `json:"source"`
		Type     string `json:"type"`
		Category string `json:"category"`
		Outcome  string `json:"outcome"`
		Severity string `json:"severity"`
		App      string `json:"app"`
		Message  string `json:"message"`
		AgentID  string `json:"agent_id"`
		Actor    struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"actor"`
		Details struct {
			Peer   string                       `json:"peer"`
			Format string                       `json:"format"`
			SD     map[string]map[string]string `json:"sd"`
		} `json:"details"`
	}
	cases := []struct {
		name, listener, source string
		flags                  []string
		rfc3164                bool
	}{
		{"UDP", "syslog-udp", "syslog-udp", []string{"--udp", "--rfc5424"}, false},
		{"TCPOctetCounting", "syslog-tcp", "syslog-tcp", []string{"--tcp", "--octet-count", "--rfc5424"}, false},
		{"TCPLineFraming", "syslog-tcp", "syslog-tcp", []string{"--tcp", "--rfc5424"}, false},
		{"TCPRFC3164", "syslog-tcp", "syslog-tcp", []string{"--tcp", "--rfc3164"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, port, _ := net.SplitHostPort(addrs[tc.listener])
			word := "e2e" + strings.ToLower(tc.name)
			args := append([]string{"--server", "127.0.0.1", "--port", port}, tc.flags...)
			args = append(args, "--tag", "ca-agent", "--priority", "auth.err", "--msgid", "E_LOGIN_FAILED",
				"--sd-id", "vigil@32473", "--sd-param", `user="mallory"`, "--sd-param", `agent_id="agent-9"`,
				"--sd-param", `category="AUTH"`, "--sd-param", `outcome="FAILURE"`, "login failed "+word)
			if out, err := exec.Command("logger", args...).CombinedOutput(); err != nil {
				t.Fatalf("logger: %v %s", err, out)
			}
			var list struct{ Events []event }
			for deadline := time.Now().Add(10 * time.Second); len(list.Events) == 0 && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				code, body := request(t, "GET", url+"/api/v1/events?category=AUTH,USAGE&q="+word, read, "")
				if code != 200 {
					t.Fatalf("list: %d %s", code, body)
				}
				if err := json.Unmarshal([]byte(body), &list); err != nil {
					t.Fatal(err)
				}
			}
			if len(list.Events) != 1 {
				t.Fatalf("%d events read back for %q, want 1", len(list.Events), word)
			}
			e := list.Events[0]
			if e.Source != tc.source || e.Message != "login failed "+word || e.Severity != "err" || e.App != "ca-agent" ||
				e.Details.Peer != "127.0.0.1" {
				t.Errorf("read back as %+v", e)
			}
			if tc.rfc3164 {
				if e.Details.Format != "rfc3164" {
					t.Errorf("format %q", e.Details.Format)
				}
				return
			}
			if e.Type != "E_LOGIN_FAILED" || e.Category != "AUTH" || e.Outcome != "FAILURE" || e.AgentID != "agent-9" ||
				e.Actor.ID != "mallory" || e.Actor.Type != "USER" || e.Details.SD["vigil@32473"]["user"] != "mallory" {
				t.Errorf("mapped as %+v", e)
			}
		})
	}
	code, metrics := request(t, "GET", url+"/metrics", read, "")
	if code != 200 || !strings.Contains(metrics, `vigil_syslog_stored_total{listener="tcp"} 3`) ||
		!strings.Contains(metrics, `vigil_syslog_received_total{listener="udp"} 1`) {
		t.Errorf("metrics: %d, syslog lines:\n%s", code, grepLines(metrics, "vigil_syslog_"))
	}

	// What a sender wrote before shutdown is stored before the database closes.
	const burst = 3000
	c, err := net.Dial("tcp", addrs["syslog-tcp"])
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range burst {
		m := fmt.Sprintf("<13>1 - burst app - - - burst %d", i)
		fmt.Fprintf(&b, "%d %s", len(m), m)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	c.Close()
	// 1 admin creation + 1 token creation + the logger events + the burst.
	want := 2 + len(cases) + burst
	if code, out, _ := vigil(t, "", "verify", "--data", dir); code != 0 || !strings.Contains(out, fmt.Sprintf("%d events verified", want)) {
		t.Fatalf("after shutdown: %d %q, want %d events", code, out, want)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestSyslogFlagErrors(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	off := []string{"serve", "--data", dir, "--http", "", "--syslog-udp", "", "--syslog-tcp", ""}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"TLSWithoutCertificate", []string{"--syslog-tls", ":6514"}, 2, "needs --tls-cert and --tls-key"},
		{"CertificateWithoutTLS", []string{"--tls-cert", "c.pem"}, 2, "--syslog-tls, which is off"},
		{"UnknownZone", []string{"--syslog-tz", "Mars/Olympus_Mons"}, 2, "--syslog-tz"},
		{"MaxMessageTooSmall", []string{"--syslog-max-msg", "100B"}, 2, "--syslog-max-msg"},
		{"MaxMessageNotASize", []string{"--syslog-max-msg", "lots"}, 2, "not a size"},
		{"UDPBufferTooSmall", []string{"--syslog-udp-buffer", "1KiB"}, 2, "--syslog-udp-buffer"},
		{"AddressWithoutPort", []string{"--syslog-tcp", "127.0.0.1"}, 2, "--syslog-tcp"},
		{"MissingCertificateFile", []string{"--syslog-tls", "127.0.0.1:0", "--tls-cert", dir + "/none.pem", "--tls-key", dir + "/none.key"}, 1, "loading TLS certificate"},
		{"PortInUse", []string{"--syslog-tcp", busy.Addr().String()}, 1, "syslog-tcp listener"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := vigil(t, "", append(append([]string{}, off...), c.args...)...)
			if code != c.code || !strings.Contains(out+errOut, c.want) {
				t.Fatalf("exit %d, out %q, err %q; want exit %d mentioning %q", code, out, errOut, c.code, c.want)
			}
		})
	}
}
