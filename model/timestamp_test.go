package model

import (
	"crypto/x509"
	"strings"
	"testing"

	"vigil/internal/testpki"
)

// TestOpenTimestamp checks tokens of a real local TSA: one over the
// checkpoint verifies, with or without its roots; one over another hash,
// a damaged one, or one checked against another CA's roots does not.
func TestOpenTimestamp(t *testing.T) {
	tsa := testpki.StartTSA(t)
	digest := CheckpointDigest("vigil.example\n4\nroot\n")
	good := tsa.Token(t, digest)
	roots := x509.NewCertPool()
	roots.AddCert(tsa.CA.Cert)
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(testpki.NewCA(t).Cert)
	damaged := append([]byte(nil), good...)
	damaged[len(damaged)-10] ^= 0xff // inside the signature

	cases := []struct {
		name    string
		token   []byte
		roots   *x509.CertPool
		wantErr string // "" : verifies
	}{
		{"Good", good, nil, ""},
		{"GoodWithRoots", good, roots, ""},
		{"OtherHash", tsa.Token(t, CheckpointDigest("another note")), nil, "message imprint"},
		{"Damaged", damaged, nil, "signature does not verify"},
		{"OtherRoots", good, otherRoots, "does not chain to the given roots"},
		{"NotAToken", []byte("not a token"), nil, "unreadable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := OpenTimestamp(c.token, digest, c.roots)
			if c.wantErr == "" {
				if err != nil || info.Time.IsZero() || !strings.Contains(info.TSA, "Vigil Test TSA") || info.ChainChecked != (c.roots != nil) {
					t.Fatalf("got %+v %v", info, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("got %v, want an error mentioning %q", err, c.wantErr)
			}
		})
	}
}
