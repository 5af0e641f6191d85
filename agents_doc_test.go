package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/rsyslogtest"
)

// docSnippet returns the fenced code block that follows the marker
// <!-- snippet: name --> in a document.
func docSnippet(t *testing.T, doc, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "<!-- snippet: "+name+" -->")
	if !ok {
		t.Fatalf("no snippet %q in the document", name)
	}
	_, rest, _ = strings.Cut(rest, "```")
	_, rest, _ = strings.Cut(rest, "\n") // the fence's info string
	body, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("snippet %q has no closing fence", name)
	}
	return body
}

// placeholders turns docs/agents.md's placeholders into this test's
// addresses and files.
func placeholders(s string, pairs ...string) string {
	return strings.NewReplacer(pairs...).Replace(s)
}

// shell runs script with bash in dir, failing the test on error.
func shell(t *testing.T, dir, script string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("running\n%s\nfailed: %v\n%s", script, err, out)
	}
	return string(out)
}

// docEvent is the part of an event the snippet tests look at.
type docEvent struct {
	ID       int64  `json:"id"`
	Source   string `json:"source"`
	Type     string `json:"type"`
	Category string `json:"category"`
	Outcome  string `json:"outcome"`
	App      string `json:"app"`
	Host     string `json:"host"`
	AgentID  string `json:"agent_id"`
	Policy   string `json:"policy"`
	Message  string `json:"message"`
	Actor    struct {
		ID string `json:"id"`
	} `json:"actor"`
	Certificate struct {
		Serial string `json:"serial"`
	} `json:"certificate"`
	Details struct {
		PeerCN string `json:"peer_cn"`
		Format string `json:"format"`
	} `json:"details"`
}

// waitForEvents polls the API with query until want events of source
// match, and returns them.
func waitForEvents(t *testing.T, api, token, source, query string, want int) []docEvent {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := request(t, "GET", api+"/api/v1/events?limit=1000&"+query, token, "")
		if code != 200 {
			t.Fatalf("GET events?%s: %d %s", query, code, body)
		}
		var page struct{ Events []docEvent }
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		var evs []docEvent
		for _, e := range page.Events {
			if e.Source == source {
				evs = append(evs, e)
			}
		}
		if len(evs) >= want || time.Now().After(deadline) {
			if len(evs) != want {
				t.Fatalf("events?%s from %s: %d events, want %d", query, source, len(evs), want)
			}
			return evs
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAgentSnippets runs the snippets of docs/agents.md as an operator
// would, against vigil serve: openssl makes the certificates, rsyslog (in
// the foreground, with exactly the documented configuration) forwards over
// TLS with a client certificate, logger and curl send as shown.
func TestAgentSnippets(t *testing.T) {
	rsyslogd := rsyslogtest.Path(t)
	for _, tool := range []string{"bash", "openssl", "logger", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (see .ci/run)", tool)
		}
	}
	b, err := os.ReadFile("docs/agents.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	pki := t.TempDir()
	shell(t, pki, docSnippet(t, doc, "openssl"))

	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	addrs, stop := serveArgs(t, "--data", dir, "--http", "127.0.0.1:0",
		"--syslog-udp", "127.0.0.1:0", "--syslog-tcp", "127.0.0.1:0", "--syslog-tls", "127.0.0.1:0",
		"--tls-cert", filepath.Join(pki, "server.pem"), "--tls-key", filepath.Join(pki, "server.key"),
		"--tls-client-ca", filepath.Join(pki, "ca.pem"))
	defer stop()
	api := "http://" + addrs["http"]
	token := func(name, scope string) string {
		code, out, errOut := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", name, "--scope", scope)
		if code != 0 {
			t.Fatalf("token create: %s", errOut)
		}
		return strings.TrimSpace(out)
	}
	read := token("reader", "read")
	portOf := func(addr string) string {
		_, p, _ := net.SplitHostPort(addr)
		return p
	}

	t.Run("RsyslogTLSClientCertificate", func(t *testing.T) {
		conf := placeholders(docSnippet(t, doc, "rsyslog"),
			`target="vigil.example.net"`, `target="127.0.0.1"`,
			`port="6514"`, fmt.Sprintf(`port="%s"`, portOf(addrs["syslog-tls"])),
			"/etc/vigil-agent/", pki+"/")
		const lines = 200
		in := make([]string, lines)
		for i := range in {
			in[i] = fmt.Sprintf("rsyslogdoc %04d certificate check passed", i)
		}
		rsyslogtest.Forward(t, rsyslogd, in, conf)
		evs := waitForEvents(t, api, read, "syslog-tls", "q=rsyslogdoc", lines)
		host, _ := os.Hostname()
		seen := map[string]bool{}
		for _, e := range evs {
			if e.App != "certagent" || e.Details.PeerCN != "web-01.example.net" || e.Details.Format != "rfc5424" ||
				e.AgentID == "" || !strings.EqualFold(e.AgentID, e.Host) || !strings.HasPrefix(e.Message, "rsyslogdoc ") {
				t.Fatalf("event mapped as %+v (host %s)", e, host)
			}
			seen[e.Message] = true
		}
		if len(seen) != lines {
			t.Fatalf("%d distinct messages of %d", len(seen), lines)
		}
	})

	t.Run("Logger", func(t *testing.T) {
		script := placeholders(docSnippet(t, doc, "logger"),
			"--server vigil.example.net", "--server 127.0.0.1",
			"--port 5514", "--port "+portOf(addrs["syslog-tcp"]))
		shell(t, t.TempDir(), script)
		evs := waitForEvents(t, api, read, "syslog-tcp", "type=CERT_USED&q=signtool", 1)
		e := evs[0]
		if e.AgentID != "web-01" || e.Outcome != "ALLOWED" || e.Actor.ID != "alice" || e.Policy != "code-signing" ||
			e.Certificate.Serial != "4F:2A:91" || e.App != "certagent" || e.Message != "signtool used build-signing for release 4.2" {
			t.Fatalf("logger event mapped as %+v", e)
		}
	})

	t.Run("CurlNDJSON", func(t *testing.T) {
		work := t.TempDir()
		if err := os.WriteFile(filepath.Join(work, "events.ndjson"), []byte(docSnippet(t, doc, "ndjson")), 0o600); err != nil {
			t.Fatal(err)
		}
		script := placeholders(docSnippet(t, doc, "curl"), "http://vigil.example.net:8080", api)
		env := "VIGIL_TOKEN=" + token("web-01", "ingest")
		if out := shell(t, work, script, env); strings.TrimSpace(out) != `{"accepted":2,"duplicates":0}` {
			t.Fatalf("curl answered %q", out)
		}
		if out := shell(t, work, script, env); strings.TrimSpace(out) != `{"accepted":0,"duplicates":2}` {
			t.Fatalf("curl retry answered %q", out)
		}
		evs := waitForEvents(t, api, read, "http", "agent_id=web-01", 2)
		if evs[0].Type != "RENEWAL_INITIATED" || evs[1].Type != "CERT_USED" || evs[1].Outcome != "DENIED" {
			t.Fatalf("curl events read back as %+v", evs)
		}
		// Without a valid token: 401, and curl --fail-with-body fails.
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = work, append(os.Environ(), "VIGIL_TOKEN=vgl_not-a-token")
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), `"error"`) {
			t.Fatalf("curl with a bad token: %v %s", err, out)
		}
	})
}
