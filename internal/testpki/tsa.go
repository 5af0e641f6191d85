package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// TSA is an RFC 3161 time-stamping authority on 127.0.0.1: it signs a
// token over the hash of each request with a certificate of its CA that
// carries the timeStamping extended key usage.
type TSA struct {
	URL    string
	CA     *CA
	Cert   *x509.Certificate
	key    crypto.Signer
	Served atomic.Int64 // tokens issued
	down   atomic.Bool
}

// tsaPolicy is the policy the test TSA stamps under.
var tsaPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}

// StartTSA starts a TSA until the test ends.
func StartTSA(t testing.TB) *TSA {
	t.Helper()
	ca := NewCA(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1000 + serials.Add(1)), Subject: pkix.Name{CommonName: "Vigil Test TSA", Organization: []string{"Vigil Tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	tsa := &TSA{CA: ca, Cert: cert, key: key}
	srv := httptest.NewServer(http.HandlerFunc(tsa.serve))
	t.Cleanup(srv.Close)
	tsa.URL = srv.URL
	return tsa
}

// SetDown makes the TSA answer 503 (true) or stamp again (false).
func (a *TSA) SetDown(down bool) { a.down.Store(down) }

// CAPEM is the TSA's CA certificate in PEM, for --tsa-ca.
func (a *TSA) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.CA.Cert.Raw})
}

func (a *TSA) serve(w http.ResponseWriter, r *http.Request) {
	if a.down.Load() {
		http.Error(w, "time-stamping is down", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "want a POST of application/timestamp-query", http.StatusBadRequest)
		return
	}
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := a.respond(req.HashAlgorithm, req.HashedMessage, req.Nonce, req.Certificates)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	a.Served.Add(1)
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(resp)
}

// respond signs a time-stamp response over hashed.
func (a *TSA) respond(h crypto.Hash, hashed []byte, nonce *big.Int, withCert bool) ([]byte, error) {
	ts := timestamp.Timestamp{
		HashAlgorithm: h, HashedMessage: hashed, Time: time.Now().UTC(), Accuracy: time.Second,
		Policy: tsaPolicy, Nonce: nonce, AddTSACertificate: withCert,
	}
	return ts.CreateResponseWithOpts(a.Cert, a.key, crypto.SHA256)
}

// Token returns a token this TSA signs over a SHA-256 digest, as a
// response carries it (with the TSA certificate).
func (a *TSA) Token(t testing.TB, digest []byte) []byte {
	t.Helper()
	resp, err := a.respond(crypto.SHA256, digest, big.NewInt(1), true)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	return ts.RawToken
}
