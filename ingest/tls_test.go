package ingest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"vigil/model"
	"vigil/store"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and client
// certificates, written as PEM files.
type testPKI struct {
	dir                   string
	ca                    *x509.Certificate
	caKey                 *ecdsa.PrivateKey
	caPool                *x509.CertPool
	serverCert, serverKey string
	caFile                string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	p.caKey = newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Vigil Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(p.ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	srv := p.issue(t, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "vigil"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, p.ca, p.caKey)
	p.serverCert = p.write(t, "server.pem", "CERTIFICATE", srv.Certificate[0])
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	p.serverKey = p.write(t, "server.key", "PRIVATE KEY", keyDER)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs tmpl with parent (self-signed when parent is nil).
func (p *testPKI) issue(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (p *testPKI) client(t *testing.T, cn string, trusted bool) tls.Certificate {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject: pkix.Name{CommonName: cn, Organization: []string{"Acme"}}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if trusted {
		return p.issue(t, tmpl, p.ca, p.caKey)
	}
	return p.issue(t, tmpl, nil, nil)
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// listeners opens two TLS listeners on h: one that requires a client
// certificate signed by the test CA and one where it is optional.
func (p *testPKI) listeners(t *testing.T, h *harness) (withCA, noCA net.Addr) {
	t.Helper()
	for _, ca := range []string{p.caFile, ""} {
		tc, err := TLSConfig(p.serverCert, p.serverKey, ca)
		if err != nil {
			t.Fatal(err)
		}
		a, err := h.srv.ListenTLS("127.0.0.1:0", tc)
		if err != nil {
			t.Fatal(err)
		}
		if ca != "" {
			withCA = a
		} else {
			noCA = a
		}
	}
	return withCA, noCA
}

// sendTLS connects, sends one octet-counted message and closes; it returns
// the first error of the handshake, write or close.
func sendTLS(addr string, pool *x509.CertPool, certs []tls.Certificate, msg string) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: pool, Certificates: certs, ServerName: "127.0.0.1"})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.WriteString(c, octet(msg)); err != nil {
		return err
	}
	// TLS 1.3 reports a refused client certificate after the handshake:
	// read until the server closes to see it.
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.Copy(io.Discard, c)
	return err
}

func TestTLSListener(t *testing.T) {
	p := newTestPKI(t)
	h := newHarness(t, Config{HandshakeTimeout: 500 * time.Millisecond}, store.Options{})
	withCA, noCA := p.listeners(t, h)
	cases := []struct {
		name   string
		addr   net.Addr
		certs  []tls.Certificate
		stored bool
		cn     string
	}{
		{"ClientCertificateRequiredAndGiven", withCA, []tls.Certificate{p.client(t, "agent-7", true)}, true, "agent-7"},
		{"ClientCertificateRequiredAndMissing", withCA, nil, false, ""},
		{"ClientCertificateFromAnotherCA", withCA, []tls.Certificate{p.client(t, "intruder", false)}, false, ""},
		{"NoClientCAWithoutCertificate", noCA, nil, true, ""},
	}
	want := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := "tls " + tc.name
			err := sendTLS(tc.addr.String(), p.caPool, tc.certs,
				`<14>1 2026-01-02T03:04:05Z agent app - CERT_USED [x@1 agent_id="agent-7"] `+msg)
			if tc.stored && err != nil {
				t.Fatalf("send: %v", err)
			}
			if !tc.stored && err == nil {
				t.Fatalf("the server accepted a client it must refuse")
			}
			if !tc.stored {
				return
			}
			want++
			evs := h.waitEvents(t, want, 5*time.Second)
			e := evs[want-1]
			d := detailsOf(t, e)
			if e.Message != msg || e.Source != model.SourceSyslogTLS || e.AgentID != "agent-7" || d["peer"] != "127.0.0.1" {
				t.Errorf("event %+v details %s", e, e.Details)
			}
			if tc.cn != "" && (d["peer_cn"] != tc.cn || d["peer_subject"] != "CN="+tc.cn+",O=Acme") {
				t.Errorf("details %s, want peer_cn %s", e.Details, tc.cn)
			}
			if tc.cn == "" && d["peer_cn"] != nil {
				t.Errorf("peer_cn without a client certificate: %s", e.Details)
			}
		})
	}
	t.Run("HandshakeTimeout", func(t *testing.T) {
		c, err := net.Dial("tcp", withCA.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if !closedByServer(c, 3*time.Second) {
			t.Fatal("a client that never starts the handshake is still connected")
		}
	})
	if got := len(h.events(t)); got != want {
		t.Errorf("%d events stored, want %d", got, want)
	}
	if got := h.metric(t, "connections_closed_total", "tls", "tls_handshake"); got != 3 {
		t.Errorf("handshake failures %v, want 3", got)
	}
}
