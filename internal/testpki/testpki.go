// Package testpki issues throw-away certificates for Vigil's tests: a CA
// and leaf certificates with chosen names and validity, ready to serve
// from a real TLS listener.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// CA signs test certificates.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Issued is a certificate with its key, in the forms tests need.
type Issued struct {
	X509        *x509.Certificate
	PEM         string
	TLS         tls.Certificate // leaf and CA, to serve
	Fingerprint string          // SHA-256 of the DER, lower-case hex
}

var serials atomic.Int64

// NewCA returns a CA valid for ten years.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serials.Add(1)), Subject: pkix.Name{CommonName: "Vigil Test CA", Organization: []string{"Vigil Tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &CA{Cert: c, Key: key}
}

// Issue signs an ECDSA P-256 server certificate for cn with sans (DNS
// names or IP addresses), valid from notBefore to notAfter.
func (ca *CA) Issue(t testing.TB, cn string, sans []string, notBefore, notAfter time.Time) Issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1000 + serials.Add(1)), Subject: pkix.Name{CommonName: cn, Organization: []string{"Vigil Tests"}},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(der)
	return Issued{
		X509: c, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		TLS:         tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: c},
		Fingerprint: hex.EncodeToString(sum[:]),
	}
}

// CountingTLS is a TLS server on 127.0.0.1 serving one certificate that
// counts the connections it accepts.
type CountingTLS struct {
	Port     int
	Accepted atomic.Int64
}

// StartCountingTLS starts a CountingTLS serving c until the test ends.
func StartCountingTLS(t testing.TB, c Issued) *CountingTLS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	srv := &CountingTLS{Port: ln.Addr().(*net.TCPAddr).Port}
	cfg := &tls.Config{Certificates: []tls.Certificate{c.TLS}}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			srv.Accepted.Add(1)
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				_ = tls.Server(conn, cfg).Handshake()
			}()
		}
	}()
	return srv
}
