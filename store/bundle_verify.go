package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/transparency-dev/merkle/proof"

	"vigil/model"
)

// BundleReport is what VerifyBundle proved of a bundle.
type BundleReport struct {
	Checkpoint model.Checkpoint
	BundleRange
	Intact   int // events whose content was proven
	Redacted int // redacted events whose commitment was proven
}

// VerifyBundle checks an export bundle with no database: the checkpoint's
// signature with the verifier key vkey, each event's chain hash recomputed
// from its content, its inclusion proof against the checkpoint's root and,
// for a contiguous bundle, that every id from first to last is there. The
// error names what is wrong and, where it can, the event.
func VerifyBundle(r io.Reader, vkey string) (BundleReport, error) {
	var b Bundle
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return BundleReport{}, fmt.Errorf("not a readable bundle: %w", err)
	}
	if b.Format != BundleFormat {
		return BundleReport{}, fmt.Errorf("not a bundle of format %s (format %q)", BundleFormat, b.Format)
	}
	cp, err := model.OpenCheckpoint([]byte(b.Checkpoint), vkey)
	if err != nil {
		return BundleReport{}, fmt.Errorf("the bundle's checkpoint is not one this key signed (a bundle of another log, or a changed checkpoint): %w", err)
	}
	rep := BundleReport{Checkpoint: cp, BundleRange: b.BundleRange}
	if b.Count != len(b.Events) {
		return rep, fmt.Errorf("the bundle states %d events but holds %d: events were added or removed", b.Count, len(b.Events))
	}
	if err := checkIDs(b); err != nil {
		return rep, err
	}
	var prev *BundleEvent
	var prevHash, buf []byte
	for i := range b.Events {
		ev := &b.Events[i]
		if ev.ID < 1 || uint64(ev.ID) > cp.Size {
			return rep, fmt.Errorf("event %d is not among the %d events of the bundle's checkpoint", ev.ID, cp.Size)
		}
		var h []byte
		if ev.Event != nil && ev.Redacted == nil {
			if h, buf, err = intactHash(ev, prev, prevHash, buf); err != nil {
				return rep, err
			}
			rep.Intact++
		} else if ev.Redacted != nil && ev.Event == nil {
			if h, err = hashHex(ev.Hash); err != nil {
				return rep, fmt.Errorf("event %d: hash: %w", ev.ID, err)
			}
			rep.Redacted++
		} else {
			return rep, fmt.Errorf("event %d holds neither its content nor, redacted, its commitment alone", ev.ID)
		}
		hashes := make([][]byte, len(ev.Proof))
		for j, s := range ev.Proof {
			if hashes[j], err = hashHex(s); err != nil {
				return rep, fmt.Errorf("event %d: proof: %w", ev.ID, err)
			}
		}
		if err := proof.VerifyInclusion(hasher, uint64(ev.ID-1), cp.Size, leafHash(h), hashes, cp.Root); err != nil {
			return rep, fmt.Errorf("event %d: its inclusion proof does not lead to the checkpoint's root: the proof is not of this log, or the event's hash was changed with its content", ev.ID)
		}
		prev, prevHash = ev, h
	}
	return rep, nil
}

// intactHash recomputes the chain hash of an event exported with its
// content, and checks that it is the hash it was exported with and that it
// chains from the event before it when that one is in the bundle too.
func intactHash(ev, prev *BundleEvent, prevHash, buf []byte) ([]byte, []byte, error) {
	if ev.Event.ID != ev.ID {
		return nil, buf, fmt.Errorf("event %d was changed: its content says it is event %d", ev.ID, ev.Event.ID)
	}
	before, err := hashHex(ev.PrevHash)
	if err != nil {
		return nil, buf, fmt.Errorf("event %d: prev_hash: %w", ev.ID, err)
	}
	if prev != nil && prev.ID == ev.ID-1 && !bytes.Equal(before, prevHash) {
		return nil, buf, fmt.Errorf("event %d does not chain from event %d: one of them was changed", ev.ID, prev.ID)
	}
	r := ev.Event.row()
	var sum [HashSize]byte
	sum, buf = chainHash(before, &r, buf)
	if want, err := hashHex(ev.Hash); err != nil || !bytes.Equal(sum[:], want) {
		return nil, buf, fmt.Errorf("event %d was changed: its content does not hash to the hash it was exported with", ev.ID)
	}
	return sum[:], buf, nil
}

// checkIDs checks that the events are in increasing id order and, when
// the bundle says they are contiguous, that none from first to last is
// missing.
func checkIDs(b Bundle) error {
	if !b.Contiguous {
		for i := 1; i < len(b.Events); i++ {
			if b.Events[i].ID <= b.Events[i-1].ID {
				return fmt.Errorf("event %d is out of order or repeated", b.Events[i].ID)
			}
		}
		return nil
	}
	if b.FirstID < 1 || b.LastID < b.FirstID {
		return fmt.Errorf("the bundle says it is contiguous but states the range %d-%d", b.FirstID, b.LastID)
	}
	want := b.FirstID
	for _, ev := range b.Events {
		switch {
		case ev.ID > want:
			return fmt.Errorf("event %d is missing from the contiguous range %d-%d the bundle states", want, b.FirstID, b.LastID)
		case ev.ID < want:
			return fmt.Errorf("event %d is out of order, repeated or outside the range %d-%d the bundle states", ev.ID, b.FirstID, b.LastID)
		}
		want++
	}
	if want <= b.LastID {
		return fmt.Errorf("event %d is missing from the contiguous range %d-%d the bundle states", want, b.FirstID, b.LastID)
	}
	if want > b.LastID+1 {
		return errors.New("the bundle holds events beyond the range it states")
	}
	return nil
}

// hashHex decodes a hex SHA-256 hash.
func hashHex(s string) ([]byte, error) {
	h, err := hex.DecodeString(s)
	if err != nil || len(h) != HashSize {
		return nil, fmt.Errorf("%q is not a hex SHA-256 hash", s)
	}
	return h, nil
}
