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

	"vigil/internal/sendertest"
	"vigil/internal/testtools"
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
		PeerCN         string `json:"peer_cn"`
		ClaimedAgentID string `json:"claimed_agent_id"`
		Format         string `json:"format"`
	} `json:"details"`
}

// waitLimit bounds how long a test waits for a sender's events.
var waitLimit = 30 * time.Second

// waitForEvents polls the API with query until want events of source
// match, and returns them.
func waitForEvents(t *testing.T, api, token, source, query string, want int) []docEvent {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
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
	rsyslogd := sendertest.Path(t)
	for _, tool := range []string{"bash", "openssl", "logger", "curl"} {
		testtools.Require(t, tool)
	}
	b, err := os.ReadFile("docs/agents.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	pki := t.TempDir()
	// Agents dial Vigil by two names here: rsyslog connects to 127.0.0.1 and
	// checks the name vigil.example.net; syslog-ng checks the name it dials,
	// localhost.
	shell(t, pki, placeholders(docSnippet(t, doc, "openssl"), "DNS:vigil.example.net", "DNS:vigil.example.net,DNS:localhost"))

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
		sendertest.Forward(t, rsyslogd, in, conf)
		evs := waitForEvents(t, api, read, "syslog-tls", "q=rsyslogdoc", lines)
		host, _ := os.Hostname()
		seen := map[string]bool{}
		for _, e := range evs {
			if e.App != "certagent" || e.Details.PeerCN != "web-01.example.net" || e.Details.Format != "rfc5424" ||
				e.AgentID != "web-01.example.net" || e.Details.ClaimedAgentID != "" || !strings.HasPrefix(e.Message, "rsyslogdoc ") {
				t.Fatalf("event mapped as %+v (host %s)", e, host)
			}
			seen[e.Message] = true
		}
		if len(seen) != lines {
			t.Fatalf("%d distinct messages of %d", len(seen), lines)
		}
	})

	t.Run("SyslogNGTLSClientCertificate", func(t *testing.T) {
		sng := syslogNG(t)
		dir := t.TempDir()
		const lines = 50
		var in strings.Builder
		for i := range lines {
			fmt.Fprintf(&in, "syslogngdoc %04d certificate check passed\n", i)
		}
		if err := os.WriteFile(filepath.Join(dir, "in.log"), []byte(in.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		conf := "@version: 3.38\n" +
			fmt.Sprintf("source s_src { file(%q follow-freq(1) flags(no-parse) program-override(\"certagent\")); };\n", filepath.Join(dir, "in.log")) +
			placeholders(docSnippet(t, doc, "syslog-ng"),
				`syslog("vigil.example.net"`, `syslog("localhost"`,
				"port(6514)", "port("+portOf(addrs["syslog-tls"])+")",
				"/etc/vigil-agent/", pki+"/",
				`dir("/var/lib/syslog-ng")`, fmt.Sprintf("dir(%q)", dir))
		if err := os.WriteFile(filepath.Join(dir, "syslog-ng.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		sng.start(t, dir)
		evs := waitForEvents(t, api, read, "syslog-tls", "q=syslogngdoc", lines)
		for _, e := range evs {
			if e.App != "certagent" || e.Details.PeerCN != "web-01.example.net" || e.Details.Format != "rfc5424" ||
				!strings.HasPrefix(e.Message, "syslogngdoc ") {
				t.Fatalf("event mapped as %+v", e)
			}
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
		// The documented token command, run as written but for the user.
		args := strings.Fields(placeholders(docSnippet(t, doc, "agent-token"), "--user ops", "--user admin"))
		code, out, errOut := vigil(t, "", append(args[1:], "--data", dir)...)
		if code != 0 || args[0] != "vigil" {
			t.Fatalf("%s: %d %s", args, code, errOut)
		}
		env := "VIGIL_TOKEN=" + strings.TrimSpace(out)
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

// syslogNGRoot is where make syslog-ng unpacks Debian's syslog-ng-core
// (not installed: it conflicts with rsyslog).
const syslogNGRoot = ".cache/syslog-ng"

// syslogNGBinary is syslog-ng unpacked under syslogNGRoot.
type syslogNGBinary struct{ root string }

// syslogNG returns the unpacked syslog-ng, or skips the test without it.
func syslogNG(t *testing.T) syslogNGBinary {
	root, _ := filepath.Abs(syslogNGRoot)
	if testtools.Hidden("syslog-ng") {
		testtools.Missing(t, "syslog-ng", "syslog-ng not found (hidden by VIGIL_TEST_HIDE)", "make syslog-ng")
	}
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/syslog-ng")); err != nil {
		testtools.Missing(t, "syslog-ng", "syslog-ng is not unpacked in "+syslogNGRoot, "make syslog-ng")
	}
	s := syslogNGBinary{root}
	cmd := exec.Command(filepath.Join(root, "usr/sbin/syslog-ng"), "--version")
	cmd.Env = s.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		testtools.Missing(t, "syslog-ng", fmt.Sprintf("the unpacked syslog-ng does not run (%v %s)", err, strings.TrimSpace(string(out))), "apt-get install -y libivykis0 libnet1 libwrap0 libpcre3")
	}
	return s
}

func (s syslogNGBinary) env() []string {
	return append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(s.root, "usr/lib/syslog-ng"), "SYSLOGNG_PREFIX="+filepath.Join(s.root, "usr"))
}

// start runs syslog-ng in the foreground with dir/syslog-ng.conf, its
// state files in dir, until the test ends.
func (s syslogNGBinary) start(t *testing.T, dir string) {
	t.Helper()
	sendertest.Run(t, filepath.Join(s.root, "usr/sbin/syslog-ng"), []string{"-F", "--stderr", "--no-caps",
		"--module-path=" + filepath.Join(s.root, "usr/lib/syslog-ng/3.38"), "--cfgfile=" + filepath.Join(dir, "syslog-ng.conf"),
		"--persist-file=" + filepath.Join(dir, "persist"), "--pidfile=" + filepath.Join(dir, "pid"), "--control=" + filepath.Join(dir, "ctl")},
		s.env())
}
