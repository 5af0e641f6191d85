package model

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

func pemCert(t *testing.T, key any, pub any, cn string) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x4f2a), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{cn}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestParsePEMBundle(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecPEM := pemCert(t, ec, &ec.PublicKey, "ec.example.test")
	rsaPEM := pemCert(t, rk, &rk.PublicKey, "rsa.example.test")
	cases := []struct {
		name    string
		in      string
		want    []string // key type/bits of each certificate
		errSays string
	}{
		{"One", ecPEM, []string{"ECDSA/384"}, ""},
		{"BundleWithText", "leaf:\n" + rsaPEM + "\nchain:\n" + ecPEM, []string{"RSA/2048", "ECDSA/384"}, ""},
		{"Empty", "  \n", nil, "empty body"},
		{"NoPEM", "MIIB...", nil, "no PEM certificate"},
		{"PrivateKey", ecPEM + "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", nil, "block 2 is a EC PRIVATE KEY"},
		{"CSR", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", nil, "not a CERTIFICATE"},
		{"Garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", nil, "PEM block 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			certs, err := ParsePEMBundle([]byte(c.in))
			if c.errSays != "" {
				if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), c.errSays) {
					t.Fatalf("err %v, want EINVALID saying %q", err, c.errSays)
				}
				return
			}
			if err != nil || len(certs) != len(c.want) {
				t.Fatalf("%d certs, %v", len(certs), err)
			}
			for i, cert := range certs {
				if got := cert.KeyType + "/" + itoa(cert.KeyBits); got != c.want[i] {
					t.Errorf("cert %d key %s, want %s", i, got, c.want[i])
				}
				if cert.Serial != "4f2a" || len(cert.Fingerprint) != 64 || len(cert.SANs) != 2 || cert.SANs[1] != "10.0.0.1" {
					t.Errorf("cert %d: %+v", i, cert)
				}
			}
		})
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func TestNormalizeSerial(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"Colons", "4F:2A", "4f2a"},
		{"LeadingZeros", "00:0f:2a", "f2a"},
		{"HexPrefix", "0x4F2A", "4f2a"},
		{"Spaces", "4f 2a", "4f2a"},
		{"NotHex", "serial-xyz", ""},
		{"Zero", "00", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := NormalizeSerial(c.in); got != c.want {
				t.Errorf("NormalizeSerial(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestDaysLeft(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		left time.Duration
		want int
	}{
		{"FiveDays", 5 * 24 * time.Hour, 5},
		{"AlmostOne", 23 * time.Hour, 0},
		{"JustExpired", -time.Hour, 0},
		{"TwoAndAHalfDaysAgo", -60 * time.Hour, -2},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := (Certificate{NotAfter: now.Add(c.left)}).DaysLeft(now); got != c.want {
				t.Errorf("DaysLeft = %d, want %d", got, c.want)
			}
		})
	}
}

func TestJobValidate(t *testing.T) {
	for _, c := range []struct {
		name    string
		job     Job
		errSays string
	}{
		{"Renewal", Job{Type: "renewal", CertificateID: 3}, ""},
		{"RenewalNeedsCertificate", Job{Type: JobRenewal}, "certificate_id"},
		{"RevokeNeedsCertificate", Job{Type: JobRevokeCert}, "certificate_id"},
		{"ValidationNeedsEndpoint", Job{Type: JobDeploymentValidation}, "endpoint_id"},
		{"RefreshNeedsCA", Job{Type: JobCARefresh}, "ca_id"},
		{"IssueNeedsInput", Job{Type: JobIssueCert}, "input"},
		{"InputMustBeObject", Job{Type: JobIssueCert, Input: []byte(`[1]`)}, "JSON object"},
		{"UnknownType", Job{Type: "REBOOT"}, "not one of"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.job.Validate()
			if c.errSays == "" {
				if err != nil || c.job.Status != JobQueued || c.job.Name == "" {
					t.Fatalf("%v %+v", err, c.job)
				}
				return
			}
			if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), c.errSays) {
				t.Fatalf("err %v, want EINVALID saying %q", err, c.errSays)
			}
		})
	}
	j := Job{Type: JobIssueCert}
	for status, want := range map[string]string{JobQueued: "ISSUANCE_INITIATED", JobRunning: "ISSUANCE_STARTED", JobSuccess: "ISSUANCE_COMPLETED", JobFailed: "ISSUANCE_FAILED"} {
		if got := j.Action(status); got != want {
			t.Errorf("Action(%s) = %s, want %s", status, got, want)
		}
	}
}

// TestNormalizeSerialAndFingerprint: the forms events write serials and
// fingerprints in come out as one lower-case hex form; anything else is "".
func TestNormalizeSerialAndFingerprint(t *testing.T) {
	for in, want := range map[string]string{
		"4F:2A": "4f2a", "0x4f2a": "4f2a", " 0X004F 2A ": "4f2a", "4f-2a": "4f2a", "4f2a": "4f2a",
		"00": "", "": "", "4g2a": "", "0x": "", "4F:2A:": "4f2a",
	} {
		if got := NormalizeSerial(in); got != want {
			t.Errorf("NormalizeSerial(%q) = %q, want %q", in, got, want)
		}
	}
	fp := strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		fp: fp, strings.ToUpper(fp): fp, strings.Repeat("AB:", 31) + "AB": fp, " " + fp + " ": fp,
		fp[:62]: "", fp + "00": "", strings.Repeat("zz", 32): "", "0x" + fp[2:]: "",
	} {
		if got := NormalizeFingerprint(in); got != want {
			t.Errorf("NormalizeFingerprint(%q) = %q, want %q", in, got, want)
		}
	}
}
