package model

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Where a certificate entered the inventory.
const (
	CertSourceUpload    = "upload"
	CertSourceDiscovery = "discovery"
	CertSourceRenewal   = "renewal"
)

// Certificate is one certificate of the inventory, one row per SHA-256
// fingerprint.
type Certificate struct {
	ID          int64     `json:"id"`
	Fingerprint string    `json:"fingerprint"` // SHA-256 of the DER, lower-case hex
	Serial      string    `json:"serial"`      // lower-case hex, no leading zeros
	Subject     string    `json:"subject"`
	CommonName  string    `json:"common_name,omitempty"`
	Issuer      string    `json:"issuer"`
	SANs        []string  `json:"sans"`
	KeyType     string    `json:"key_type"`
	KeyBits     int       `json:"key_bits"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	IsCA        bool      `json:"is_ca"`
	Source      string    `json:"source"`
	CreatedAt   time.Time `json:"created_at"`
	// ReplacedBy is the inventory id of the certificate that replaced this
	// one (a renewal or a newer certificate for the same subject and SANs).
	ReplacedBy *int64     `json:"replaced_by,omitempty"`
	ReplacedAt *time.Time `json:"replaced_at,omitempty"`
	// RevokedAt is when a REVOKE_CERT job for it succeeded.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Seen in use: the latest event naming this certificate.
	LastSeen      *time.Time `json:"last_seen,omitempty"`
	LastSeenAgent string     `json:"last_seen_agent,omitempty"`
	LastSeenHost  string     `json:"last_seen_host,omitempty"`
	Uses          int64      `json:"uses"`
	PEM           string     `json:"pem,omitempty"`
	// ExpiryDays are its own alert thresholds, largest first, replacing
	// those of its endpoints and --expiry-days; nil when it has none.
	ExpiryDays []int `json:"expiry_days,omitempty"`
}

// Expired reports whether c is expired at now.
func (c Certificate) Expired(now time.Time) bool { return !now.Before(c.NotAfter) }

// DaysLeft returns the whole days from now until c expires, and once it
// has expired, minus the whole days since (Expired tells the first day
// after expiry from the last day before it).
func (c Certificate) DaysLeft(now time.Time) int {
	return int(c.NotAfter.Sub(now) / (24 * time.Hour))
}

// ExpiryText says when c expires or expired, seen at now, with the days
// left: "expires at 2026-03-06T12:00:00Z, in 4 days 23 hours" or "expired
// at 2026-03-06T12:00:00Z, 2 days ago".
func (c Certificate) ExpiryText(now time.Time) string {
	at := c.NotAfter.UTC().Format(time.RFC3339)
	if !c.Expired(now) {
		return "expires at " + at + ", in " + daysAndHours(c.NotAfter.Sub(now))
	}
	switch ago := -c.DaysLeft(now); ago {
	case 0:
		return "expired at " + at + ", less than a day ago"
	case 1:
		return "expired at " + at + ", 1 day ago"
	default:
		return fmt.Sprintf("expired at %s, %d days ago", at, ago)
	}
}

// daysAndHours says how long d is in whole days and hours, both truncated,
// so that its days are the certificate's days_left (DaysLeft); under a day
// in hours and minutes.
func daysAndHours(d time.Duration) string {
	const day = 24 * time.Hour
	if d < day {
		return d.Truncate(time.Minute).String()
	}
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	return plural(int(d/day), "day") + " " + plural(int(d%day/time.Hour), "hour")
}

// MaxExpiryDays bounds an alert threshold, in days.
const MaxExpiryDays = 3650

// CheckExpiryDays checks alert thresholds in days (each between 1 and
// MaxExpiryDays, none twice) and returns them largest first; none at all
// is nil, which means "not set".
func CheckExpiryDays(days []int) ([]int, error) {
	if len(days) == 0 {
		return nil, nil
	}
	out := slices.Clone(days)
	for i, d := range out {
		if d < 1 || d > MaxExpiryDays {
			return nil, Errorf(EINVALID, "%d is not a number of days between 1 and %d", d, MaxExpiryDays)
		}
		if slices.Contains(out[:i], d) {
			return nil, Errorf(EINVALID, "%d given twice", d)
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out, nil
}

// ParseExpiryDays reads alert thresholds written as --expiry-days takes
// them, "30,14,7,1"; blank is nil.
func ParseExpiryDays(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var days []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		n, err := strconv.Atoi(part)
		if err != nil || strconv.Itoa(n) != part {
			return nil, Errorf(EINVALID, "%q is not a number of days between 1 and %d", part, MaxExpiryDays)
		}
		days = append(days, n)
	}
	return CheckExpiryDays(days)
}

// FormatExpiryDays writes thresholds as ParseExpiryDays reads them.
func FormatExpiryDays(days []int) string {
	parts := make([]string, len(days))
	for i, d := range days {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, ",")
}

// Where a certificate's alert thresholds come from (ExpiryThresholds.From;
// an endpoint's are "endpoint N").
const (
	ThresholdsOwn     = "certificate"
	ThresholdsDefault = "default"
)

// ExpiryThresholds are the alert thresholds that apply to a certificate,
// largest first, and where they come from: "certificate", "endpoint 3"
// ("endpoints 3, 5" when several set them) or "default".
type ExpiryThresholds struct {
	Days []int
	From string
}

// ThresholdsFor returns the thresholds of c: its own; else those of the
// endpoints among eps that serve it (at their last check) or expect it,
// merged; else def (--expiry-days).
func ThresholdsFor(c Certificate, eps []Endpoint, def []int) ExpiryThresholds {
	if len(c.ExpiryDays) > 0 {
		return ExpiryThresholds{Days: c.ExpiryDays, From: ThresholdsOwn}
	}
	var days []int
	var from []string
	for _, e := range eps {
		if len(e.ExpiryDays) == 0 || !e.Serves(c.Fingerprint) && !e.Expects(c.Fingerprint) {
			continue
		}
		from = append(from, strconv.FormatInt(e.ID, 10))
		for _, d := range e.ExpiryDays {
			if !slices.Contains(days, d) {
				days = append(days, d)
			}
		}
	}
	switch len(from) {
	case 0:
		days = slices.Clone(def)
		slices.Sort(days)
		slices.Reverse(days)
		return ExpiryThresholds{Days: days, From: ThresholdsDefault}
	case 1:
		days, _ = CheckExpiryDays(days)
		return ExpiryThresholds{Days: days, From: "endpoint " + from[0]}
	}
	days, _ = CheckExpiryDays(days)
	return ExpiryThresholds{Days: days, From: "endpoints " + strings.Join(from, ", ")}
}

// SameIdentity reports whether c and o name the same subject and SANs, so
// that the newer one replaces the older.
func (c Certificate) SameIdentity(o Certificate) bool {
	if c.Subject != o.Subject || len(c.SANs) != len(o.SANs) {
		return false
	}
	a, b := slices.Clone(c.SANs), slices.Clone(o.SANs)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Label names c for alerts and logs: its common name, or its subject.
func (c Certificate) Label() string {
	if c.CommonName != "" {
		return c.CommonName
	}
	if c.Subject != "" {
		return c.Subject
	}
	return "certificate " + c.Fingerprint[:16]
}

// IssuedBy reports whether parent's key signed c, from their PEM: parent
// is c's issuer (a self-signed c is issued by itself). Without PEM, or
// with a subject other than c's issuer, it is false.
func (c Certificate) IssuedBy(parent Certificate) bool {
	if c.Issuer != parent.Subject {
		return false
	}
	child, err1 := parsePEMCert(c.PEM)
	issuer, err2 := parsePEMCert(parent.PEM)
	// The signature alone: whether the issuer was allowed to sign is for
	// a verifier; the inventory shows who did.
	return err1 == nil && err2 == nil && issuer.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
}

func parsePEMCert(s string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, Errorf(EINVALID, "no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// MaxPEMBundle bounds an uploaded PEM bundle.
const MaxPEMBundle = 4 << 20

// ParsePEMBundle parses every CERTIFICATE block of data. Other blocks
// (keys, CSRs) are refused so a private key is never stored by mistake; a
// bundle without any certificate is an error.
func ParsePEMBundle(data []byte) ([]Certificate, error) {
	if len(data) > MaxPEMBundle {
		return nil, Errorf(ETOOLARGE, "PEM bundle larger than %d bytes", MaxPEMBundle)
	}
	var certs []Certificate
	rest := data
	for n := 1; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			if strings.Contains(b.Type, "PRIVATE KEY") {
				return nil, Errorf(EINVALID, "PEM block %d is a %s: upload certificates only, never private keys", n, b.Type)
			}
			return nil, Errorf(EINVALID, "PEM block %d is a %s, not a CERTIFICATE", n, b.Type)
		}
		x, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, Errorf(EINVALID, "PEM block %d: %v", n, err)
		}
		certs = append(certs, CertificateFromX509(x))
	}
	if len(certs) == 0 {
		if strings.TrimSpace(string(rest)) != "" {
			return nil, Errorf(EINVALID, "no PEM certificate found: send one or more -----BEGIN CERTIFICATE----- blocks")
		}
		return nil, Errorf(EINVALID, "empty body: send one or more PEM certificates")
	}
	return certs, nil
}

// CertificateFromX509 describes a parsed certificate.
func CertificateFromX509(x *x509.Certificate) Certificate {
	sum := sha256.Sum256(x.Raw)
	c := Certificate{
		Fingerprint: hex.EncodeToString(sum[:]),
		Serial:      x.SerialNumber.Text(16),
		Subject:     x.Subject.String(),
		CommonName:  x.Subject.CommonName,
		Issuer:      x.Issuer.String(),
		NotBefore:   x.NotBefore.UTC(),
		NotAfter:    x.NotAfter.UTC(),
		IsCA:        x.IsCA,
		SANs:        []string{},
		PEM:         string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.Raw})),
	}
	c.SANs = append(c.SANs, x.DNSNames...)
	for _, ip := range x.IPAddresses {
		c.SANs = append(c.SANs, ip.String())
	}
	c.SANs = append(c.SANs, x.EmailAddresses...)
	for _, u := range x.URIs {
		c.SANs = append(c.SANs, u.String())
	}
	switch k := x.PublicKey.(type) {
	case *rsa.PublicKey:
		c.KeyType, c.KeyBits = "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		c.KeyType, c.KeyBits = "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		c.KeyType, c.KeyBits = "Ed25519", 256
	default:
		c.KeyType = x.PublicKeyAlgorithm.String()
	}
	return c
}

// NormalizeSerial canonicalizes a serial number as events carry it
// ("4F:2A", "0x4f2a", "4f 2a") to lower-case hex without leading zeros.
func NormalizeSerial(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	return normalizeHex(s, ":- ", true)
}

// NormalizeFingerprint canonicalizes a SHA-256 fingerprint to lower-case
// hex without separators; "" when it is not one.
func NormalizeFingerprint(s string) string {
	s = normalizeHex(strings.TrimSpace(s), ": ", false)
	if len(s) != 64 {
		return ""
	}
	return s
}

// normalizeHex returns s as lower-case hex without the separator bytes in
// seps (and without leading zeros when trimZeros), or "" when anything
// else is in it. Every event naming a certificate goes through it, so a
// value already in that form is returned as it is, without allocating.
func normalizeHex(s, seps string, trimZeros bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9' || 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F' || strings.IndexByte(seps, c) >= 0:
			clean = false
		default:
			return ""
		}
	}
	if !clean {
		b := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case 'A' <= c && c <= 'F':
				b = append(b, c+('a'-'A'))
			case strings.IndexByte(seps, c) < 0:
				b = append(b, c)
			}
		}
		s = string(b)
	}
	if trimZeros {
		s = strings.TrimLeft(s, "0")
	}
	return s
}

// CertFilter selects inventory certificates; zero values mean "not set".
type CertFilter struct {
	ExpiringWithin  time.Duration // not after now + this (expired ones included)
	Issuer          string        // substring of the issuer
	Subject         string        // substring of the subject or of a SAN
	IncludeReplaced bool          // also replaced and revoked certificates
	Sort            string        // "days_left" (default, soonest first) or "newest"
	Limit           int
}

// ParseCertFilter builds a certificate filter from query parameters
// (expiring_within=30d, issuer, subject, include_replaced, sort, limit).
func ParseCertFilter(q url.Values) (CertFilter, error) {
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	f := CertFilter{Issuer: get("issuer"), Subject: get("subject"), Sort: get("sort")}
	if v := get("expiring_within"); v != "" {
		d, err := ParseDays(v)
		if err != nil || d <= 0 {
			return f, Errorf(EINVALID, "expiring_within: %q is not a duration such as 30d or 12h", v)
		}
		f.ExpiringWithin = d
	}
	switch f.Sort {
	case "":
		f.Sort = "days_left"
	case "days_left", "newest":
	default:
		return f, Errorf(EINVALID, "sort must be days_left or newest")
	}
	var err error
	if f.IncludeReplaced, err = parseFlagParam("include_replaced", get("include_replaced")); err != nil {
		return f, err
	}
	f.Limit, err = parseLimitParam(q)
	return f, err
}

// ParseDays parses a duration that may also be given in days ("30d"), as
// well as anything time.ParseDuration takes ("12h", "90m").
func ParseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 100000 {
			return 0, Errorf(EINVALID, "%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, Errorf(EINVALID, "%q is not a duration such as 30d, 12h or 90m", s)
	}
	return d, nil
}

// FormatDays writes a duration as ParseDays reads it: whole days as "30d",
// anything else as Go writes it ("90m0s" as "1h30m0s").
func FormatDays(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// Endpoint is a TLS service Vigil dials to discover the certificate it
// serves and to validate the deployment.
type Endpoint struct {
	ID                  int64      `json:"id"`
	Host                string     `json:"host"`
	Port                int        `json:"port"`
	ServerName          string     `json:"server_name,omitempty"`          // SNI; Host when empty
	ExpectedFingerprint string     `json:"expected_fingerprint,omitempty"` // SHA-256 the endpoint must serve
	CreatedAt           time.Time  `json:"created_at"`
	CreatedBy           string     `json:"created_by,omitempty"`
	LastChecked         *time.Time `json:"last_checked,omitempty"`
	LastStatus          string     `json:"last_status,omitempty"` // OK or FAILED
	LastError           string     `json:"last_error,omitempty"`
	LastFingerprint     string     `json:"last_fingerprint,omitempty"`
	// ExpiryDays are the alert thresholds of the certificates it serves
	// or expects, largest first, unless they have their own; nil when none.
	ExpiryDays []int `json:"expiry_days,omitempty"`
}

// Serves reports whether the endpoint served the certificate with
// fingerprint fp at its last check.
func (e Endpoint) Serves(fp string) bool { return fp != "" && e.LastFingerprint == fp }

// Expects reports whether the endpoint should serve the certificate with
// fingerprint fp.
func (e Endpoint) Expects(fp string) bool { return fp != "" && e.ExpectedFingerprint == fp }

// EndpointUse is an endpoint that serves (at its last check) or should
// serve a certificate.
type EndpointUse struct {
	Endpoint
	Serving, Expected bool
}

// EndpointsOf returns the endpoints among eps that serve or expect the
// certificate with fingerprint fp.
func EndpointsOf(fp string, eps []Endpoint) []EndpointUse {
	var uses []EndpointUse
	for _, e := range eps {
		if u := (EndpointUse{Endpoint: e, Serving: e.Serves(fp), Expected: e.Expects(fp)}); u.Serving || u.Expected {
			uses = append(uses, u)
		}
	}
	return uses
}

// Addr returns host:port.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// SNI returns the server name sent in the TLS handshake.
func (e Endpoint) SNI() string {
	if e.ServerName != "" {
		return e.ServerName
	}
	return e.Host
}

// Validate checks a new endpoint and canonicalizes its fields.
func (e *Endpoint) Validate() error {
	e.Host = strings.TrimSpace(e.Host)
	e.ServerName = strings.TrimSpace(e.ServerName)
	if e.Host == "" || len(e.Host) > 253 || strings.ContainsAny(e.Host, " /:?#@") && net.ParseIP(e.Host) == nil {
		return Errorf(EINVALID, "host must be a host name or an IP address")
	}
	if e.Port < 1 || e.Port > 65535 {
		return Errorf(EINVALID, "port must be between 1 and 65535")
	}
	if len(e.ServerName) > 253 || strings.ContainsAny(e.ServerName, " /:?#@") {
		return Errorf(EINVALID, "server_name must be a host name")
	}
	if e.ExpectedFingerprint != "" {
		fp := NormalizeFingerprint(e.ExpectedFingerprint)
		if fp == "" {
			return Errorf(EINVALID, "expected_fingerprint must be a SHA-256 hex digest (64 hex digits, colons allowed)")
		}
		e.ExpectedFingerprint = fp
	}
	return nil
}
