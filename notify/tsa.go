package notify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"time"

	"github.com/digitorus/timestamp"

	"vigil/model"
)

// TSA asks an RFC 3161 time-stamping authority for a token over each
// checkpoint: proof, signed outside the appliance, of when the checkpoint
// existed.
type TSA struct {
	url    string
	client *http.Client
}

// maxTSAReply bounds a TSA's answer (a token with its certificates).
const maxTSAReply = 1 << 20

// NewTSA returns a client of the TSA at url, or nil when url is empty.
func NewTSA(url string, timeout time.Duration) *TSA {
	if url == "" {
		return nil
	}
	return &TSA{url: url, client: &http.Client{Timeout: timeout}}
}

// URL is the TSA's address.
func (a *TSA) URL() string { return a.url }

// Stamp asks the TSA for a token over the signed note of a checkpoint
// (its SHA-256), with a fresh nonce and the TSA's certificate requested,
// and checks the answer before returning it: granted, over that hash and
// that nonce, signed by the certificate it carries.
func (a *TSA) Stamp(ctx context.Context, note string) (model.Timestamp, error) {
	digest := model.CheckpointDigest(note)
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return model.Timestamp{}, err
	}
	req := timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, Certificates: true, Nonce: nonce}
	der, err := req.Marshal()
	if err != nil {
		return model.Timestamp{}, fmt.Errorf("time-stamp request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(der))
	if err != nil {
		return model.Timestamp{}, fmt.Errorf("time-stamping authority %s: %w", a.url, err)
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	hr.Header.Set("Accept", "application/timestamp-reply")
	resp, err := a.client.Do(hr)
	if err != nil {
		return model.Timestamp{}, fmt.Errorf("time-stamping authority %s: %w", a.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTSAReply+1))
	if err != nil {
		return model.Timestamp{}, fmt.Errorf("time-stamping authority %s: %w", a.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return model.Timestamp{}, fmt.Errorf("time-stamping authority %s answered %s", a.url, resp.Status)
	}
	if len(body) > maxTSAReply {
		return model.Timestamp{}, fmt.Errorf("time-stamping authority %s: answer larger than %d bytes", a.url, maxTSAReply)
	}
	ts, err := timestamp.ParseResponse(body)
	if err != nil {
		return model.Timestamp{}, fmt.Errorf("time-stamping authority %s: refused or unreadable answer: %w", a.url, err)
	}
	info, err := model.OpenTimestamp(ts.RawToken, digest, nil)
	if err != nil {
		return model.Timestamp{}, fmt.Errorf("time-stamping authority %s: its token: %w", a.url, err)
	}
	if info.Nonce == nil || info.Nonce.Cmp(nonce) != 0 {
		return model.Timestamp{}, fmt.Errorf("time-stamping authority %s: its token does not carry the request's nonce: a replayed or misdirected answer", a.url)
	}
	return model.Timestamp{Token: ts.RawToken, Time: info.Time}, nil
}
