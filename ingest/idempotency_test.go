package ingest

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"vigil/store"
)

// TestPlainSyslogNeverDeduplicates sends messages sharing an event_id over
// UDP and TCP without client certificates: each is stored, the event_id
// kept as data.
func TestPlainSyslogNeverDeduplicates(t *testing.T) {
	h := newHarness(t, Config{}, store.Options{}, "udp", "tcp")
	msgs := []string{
		`<14>1 2026-01-02T03:04:05Z host-a app - - [x@1 event_id="4625"] logon failure for bob`,
		`<14>1 2026-01-02T03:04:06Z host-b app - - [x@1 event_id="4625"] logon failure for carol`,
		`<14>1 2026-01-02T03:04:06Z host-b app - - [x@1 event_id="4625"] logon failure for carol`,
	}
	u, err := net.Dial("udp", h.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for _, m := range msgs {
		if _, err := u.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	h.waitEvents(t, len(msgs), 5*time.Second)
	var stream []byte
	for _, m := range msgs {
		stream = append(stream, octet(m)...)
	}
	sendStreams(t, h.tcp, [][]byte{stream})
	h.waitEvents(t, 2*len(msgs), 5*time.Second)
	time.Sleep(100 * time.Millisecond) // nothing more arrives
	if evs := h.events(t); len(evs) != 2*len(msgs) {
		t.Fatalf("%d events stored, want %d", len(evs), 2*len(msgs))
	}
	for _, e := range h.events(t) {
		if e.EventID != "4625" {
			t.Errorf("event %d has event_id %q, want 4625 kept", e.ID, e.EventID)
		}
	}
}

// TestTLSClientCertificateScopesEventID: over TLS syslog the client
// certificate is the sender. Its retry of the same message is stored once;
// another certificate's message with the same event_id is stored; without
// a client certificate nothing is de-duplicated; a different message
// reusing the certificate's event_id is kept as data.
func TestTLSClientCertificateScopesEventID(t *testing.T) {
	p := newTestPKI(t)
	h := newHarness(t, Config{}, store.Options{})
	withCA, noCA := p.listeners(t, h)
	web01 := []tls.Certificate{p.client(t, "web-01", true)}
	db07 := []tls.Certificate{p.client(t, "db-07", true)}
	const msg = `<14>1 2026-01-02T03:04:05Z web-01 app - CERT_USED [x@1 event_id="web-01-0042"] signed`
	const other = `<14>1 2026-01-02T03:04:05Z web-01 app - CERT_USED [x@1 event_id="web-01-0042"] changed`
	cases := []struct {
		name   string
		addr   net.Addr
		certs  []tls.Certificate
		msg    string
		stored int // events stored in all after this send
	}{
		{"First", withCA, web01, msg, 1},
		{"SameCertificateRetry", withCA, web01, msg, 1},
		{"OtherCertificate", withCA, db07, msg, 2},
		{"OtherCertificateRetry", withCA, db07, msg, 2},
		{"NoCertificate", noCA, nil, msg, 3},
		{"NoCertificateAgain", noCA, nil, msg, 4},
		{"SameCertificateOtherContent", withCA, web01, other, 5},
		{"SameCertificateRetryAfterConflict", withCA, web01, msg, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := sendTLS(tc.addr.String(), p.caPool, tc.certs, tc.msg); err != nil {
				t.Fatalf("send: %v", err)
			}
			// sendTLS returns once the server closed the connection, after
			// storing what it read.
			evs := h.events(t)
			if len(evs) != tc.stored {
				t.Fatalf("%d events stored, want %d", len(evs), tc.stored)
			}
			if last := evs[len(evs)-1]; last.EventID != "web-01-0042" {
				t.Errorf("event_id %q, want web-01-0042 kept", last.EventID)
			}
		})
	}
	if !strings.Contains(h.logs.String(), "stored without de-duplication") {
		t.Error("the reuse of an event_id with other content was not logged")
	}
}
