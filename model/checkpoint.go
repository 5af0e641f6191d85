package model

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a signed statement of the events' Merkle tree head: its
// size (number of events) and root hash at a time. Its text form follows the
// C2SP tlog-checkpoint format, signed as a C2SP signed note with Ed25519:
//
//	<origin>
//	<tree size>
//	<base64 root hash>
//	time <RFC3339>          (extension line)
//
//	— <key name> <base64 signature>
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
	Time   time.Time
}

// body returns the checkpoint's signed text.
func (c Checkpoint) body() string {
	return fmt.Sprintf("%s\n%d\n%s\ntime %s\n", c.Origin, c.Size,
		base64.StdEncoding.EncodeToString(c.Root), c.Time.UTC().Format(time.RFC3339))
}

// parseCheckpointBody parses the text of a checkpoint note.
func parseCheckpointBody(text string) (Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, errors.New("checkpoint: want origin, size and root hash lines")
	}
	var c Checkpoint
	c.Origin = lines[0]
	if c.Origin == "" {
		return c, errors.New("checkpoint: empty origin")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || (lines[1] != "0" && strings.HasPrefix(lines[1], "0")) {
		return c, fmt.Errorf("checkpoint: bad tree size %q", lines[1])
	}
	c.Size = size
	if c.Root, err = base64.StdEncoding.DecodeString(lines[2]); err != nil || len(c.Root) != 32 {
		return c, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	for _, ext := range lines[3:] {
		if v, ok := strings.CutPrefix(ext, "time "); ok {
			if c.Time, err = time.Parse(time.RFC3339, v); err != nil {
				return c, fmt.Errorf("checkpoint: bad time %q", v)
			}
		}
	}
	return c, nil
}

// CheckpointKey signs and verifies checkpoints with one Ed25519 key.
type CheckpointKey struct {
	signer   note.Signer
	verifier note.Verifier
	public   string
}

// NewCheckpointKeyText generates a new signing key for origin and returns
// it in the signed-note private key format (PRIVATE+KEY+…), to be kept
// secret.
func NewCheckpointKeyText(origin string) (string, error) {
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	return skey, err
}

// ParseCheckpointKey loads a private key written by NewCheckpointKeyText.
func ParseCheckpointKey(skey string) (*CheckpointKey, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	// The verifier key is derived from the private key text:
	// PRIVATE+KEY+name+hash+base64(alg || seed).
	parts := strings.SplitN(strings.TrimSpace(skey), "+", 5)
	if len(parts) != 5 {
		return nil, errors.New("checkpoint key: malformed")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 33 {
		return nil, errors.New("checkpoint key: malformed")
	}
	vkey, err := note.NewEd25519VerifierKey(s.Name(), ed25519Public(raw[1:]))
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	return &CheckpointKey{signer: s, verifier: v, public: vkey}, nil
}

// Origin is the name of this appliance's log, the first line of its
// checkpoints.
func (k *CheckpointKey) Origin() string { return k.signer.Name() }

// PublicKey returns the verifier key (name+hash+base64 key) that auditors
// use to check checkpoints off the box.
func (k *CheckpointKey) PublicKey() string { return k.public }

// Sign returns the signed note of c, with c.Origin set to the key's origin.
func (k *CheckpointKey) Sign(c Checkpoint) (string, error) {
	c.Origin = k.Origin()
	msg, err := note.Sign(&note.Note{Text: c.body()}, k.signer)
	if err != nil {
		return "", fmt.Errorf("sign checkpoint: %w", err)
	}
	return string(msg), nil
}

// OpenCheckpoint verifies a signed checkpoint note against the verifier key
// vkey and returns its content. The origin must be the key's name.
func OpenCheckpoint(signed []byte, vkey string) (Checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("verifier key: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	c, err := parseCheckpointBody(n.Text)
	if err != nil {
		return c, err
	}
	if c.Origin != v.Name() {
		return c, fmt.Errorf("checkpoint: origin %q is not the key's %q", c.Origin, v.Name())
	}
	return c, nil
}

// ed25519Public returns the public key of an Ed25519 seed.
func ed25519Public(seed []byte) ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}
