package ingest

import (
	"crypto/tls"
	"testing"
	"time"

	"vigil/store"
)

// TestTLSClientCertificateNamesTheAgent checks that over TLS with client
// certificates the certificate's CN is the agent id: an agent_id the
// message claims keeps only as details.claimed_agent_id.
func TestTLSClientCertificateNamesTheAgent(t *testing.T) {
	p := newTestPKI(t)
	h := newHarness(t, Config{HandshakeTimeout: time.Second}, store.Options{})
	required, err := TLSConfig(p.serverCert, p.serverKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := h.srv.ListenTLS("127.0.0.1:0", required)
	if err != nil {
		t.Fatal(err)
	}
	web := []tls.Certificate{p.client(t, "web-01", true)}
	cases := []struct {
		name, sd, claimed string
	}{
		{"ClaimsAnotherAgent", `[x@1 agent_id="db-07"]`, "db-07"},
		{"ClaimsItself", `[x@1 agent_id="web-01"]`, ""},
		{"NamesNoAgent", `-`, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := "tls agent " + tc.name
			if err := sendTLS(addr.String(), p.caPool, web, `<14>1 2026-01-02T03:04:05Z web-01 certagent - CERT_USED `+tc.sd+` `+msg); err != nil {
				t.Fatal(err)
			}
			e := h.waitEvents(t, i+1, 5*time.Second)[i]
			d := detailsOf(t, e)
			if e.Message != msg || e.AgentID != "web-01" || d["peer_cn"] != "web-01" {
				t.Errorf("stored with agent_id %q, details %s; want agent_id web-01", e.AgentID, e.Details)
			}
			if got, _ := d["claimed_agent_id"].(string); got != tc.claimed {
				t.Errorf("details.claimed_agent_id %q, want %q: %s", got, tc.claimed, e.Details)
			}
		})
	}
}
