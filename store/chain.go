package store

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
)

// HashSize is the size of an event hash.
const HashSize = sha256.Size

// chainDomain starts every canonical encoding, so an event hash can never be
// confused with a hash of anything else.
const chainDomain = "vigil-event-v1\x00"

// row is an event as stored: exactly the column values the hash covers.
// Empty strings stand for NULL.
type row struct {
	id                                       int64
	eventID, time                            string
	timeNS, receivedAt                       int64
	source, category, typ, outcome, severity string
	actorType, actorID, actorDN, actorIP     string
	entityType, entityID                     string
	certSerial, certFingerprint, certSubject string
	agentID, host, app, process, command     string
	policy, tenant, message, details         string
}

// canonical appends the canonical encoding of r to buf: the domain string,
// then each covered field in a fixed order as a uvarint length and its bytes.
// It is unambiguous, so two different rows never encode alike.
func (r *row) canonical(buf []byte) []byte {
	buf = append(buf, chainDomain...)
	field := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	num := func(n int64) {
		var tmp [20]byte
		field(string(strconv.AppendInt(tmp[:0], n, 10)))
	}
	num(r.id)
	field(r.eventID)
	field(r.time)
	num(r.timeNS)
	num(r.receivedAt)
	for _, s := range [...]string{
		r.source, r.category, r.typ, r.outcome, r.severity,
		r.actorType, r.actorID, r.actorDN, r.actorIP, r.entityType, r.entityID,
		r.certSerial, r.certFingerprint, r.certSubject,
		r.agentID, r.host, r.app, r.process, r.command, r.policy, r.tenant,
		r.message, r.details,
	} {
		field(s)
	}
	return buf
}

// chainHash returns SHA-256(prev || canonical(r)); buf is scratch space
// that is returned for reuse.
func chainHash(prev []byte, r *row, buf []byte) ([HashSize]byte, []byte) {
	buf = append(buf[:0], prev...)
	buf = r.canonical(buf)
	return sha256.Sum256(buf), buf
}
