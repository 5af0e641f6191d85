package model

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// Timestamp is an RFC 3161 time-stamp token a time-stamping authority
// (TSA) signed over a checkpoint: proof from outside the appliance that the
// checkpoint existed at Time (the token's genTime).
type Timestamp struct {
	Token []byte // the TimeStampToken, DER (CMS SignedData)
	Time  time.Time
}

// TimestampInfo is what a verified token says.
type TimestampInfo struct {
	Time   time.Time
	Nonce  *big.Int
	Serial *big.Int
	TSA    string // the subject of the certificate that signed it
	// ChainChecked is true when the certificate was checked up to roots.
	ChainChecked bool
}

// CheckpointDigest is what a TSA stamps for a checkpoint: the SHA-256 of
// its signed note, as stored and served.
func CheckpointDigest(note string) []byte {
	sum := sha256.Sum256([]byte(note))
	return sum[:]
}

// OpenTimestamp verifies an RFC 3161 token over digest (SHA-256): the
// token's message imprint must be digest, its signature must verify with
// the certificate it carries, and that certificate must be for time
// stamping. With roots, the certificate must also chain to one of them,
// at the token's time; without, the chain is not checked.
func OpenTimestamp(token, digest []byte, roots *x509.CertPool) (TimestampInfo, error) {
	ts, err := timestamp.Parse(token)
	if err != nil {
		return TimestampInfo{}, fmt.Errorf("unreadable or its signature does not verify: %w", err)
	}
	if len(ts.Certificates) == 0 {
		return TimestampInfo{}, errors.New("it carries no TSA certificate to check its signature with")
	}
	if ts.HashAlgorithm != crypto.SHA256 || !bytes.Equal(ts.HashedMessage, digest) {
		return TimestampInfo{}, fmt.Errorf("its message imprint (%v %x) is not the checkpoint's SHA-256 %x: it stamps something else",
			ts.HashAlgorithm, ts.HashedMessage, digest)
	}
	p7, err := pkcs7.Parse(token)
	if err != nil {
		return TimestampInfo{}, fmt.Errorf("unreadable: %w", err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return TimestampInfo{}, errors.New("it does not name one signer among its certificates")
	}
	if !slices.Contains(signer.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) {
		return TimestampInfo{}, fmt.Errorf("its signer %s is not a time-stamping certificate (no timeStamping extended key usage)", signer.Subject)
	}
	info := TimestampInfo{Time: ts.Time, Nonce: ts.Nonce, Serial: ts.SerialNumber, TSA: signer.Subject.String()}
	if roots != nil {
		inter := x509.NewCertPool()
		for _, c := range p7.Certificates {
			inter.AddCert(c)
		}
		if err := p7.VerifyWithOpts(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: ts.Time,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
			return TimestampInfo{}, fmt.Errorf("its TSA certificate %s does not chain to the given roots: %w", signer.Subject, err)
		}
		info.ChainChecked = true
	}
	return info, nil
}
