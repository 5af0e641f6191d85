package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"vigil/model"
)

// TypeUnparsed is the type of an event made of a line that is not syslog.
const TypeUnparsed = "UNPARSED"

// Formats recorded in details.format.
const (
	formatRFC5424  = "rfc5424"
	formatRFC3164  = "rfc3164"
	formatUnparsed = "unparsed"
)

// utf8BOM starts an RFC 5424 MSG that declares itself UTF-8.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Peer describes who sent a frame; it is copied into each event's details.
type Peer struct {
	Source  string // model.SourceSyslogUDP, …TCP or …TLS
	Addr    string // the sender's IP address
	CN      string // TLS client certificate common name: the agent id
	Subject string // TLS client certificate subject
	// Sender scopes event_id de-duplication: the TLS client certificate
	// (model.CertSender); empty for plain UDP and TCP, where event_id is
	// only data.
	Sender string
}

// Decoder turns syslog frames into normalized events. It holds parser
// state and is not safe for concurrent use: one per connection or reader.
type Decoder struct {
	loc     *time.Location
	m5424   syslog.Machine
	m5424BE syslog.Machine
	scratch []byte
	details []byte // marshalDetails' buffer, reused
}

// NewDecoder returns a Decoder reading RFC 3164 times in loc (they carry
// no zone; nil means UTC).
func NewDecoder(loc *time.Location) *Decoder {
	if loc == nil {
		loc = time.UTC
	}
	return &Decoder{
		loc:     loc,
		m5424:   rfc5424.NewMachine(),
		m5424BE: rfc5424.NewMachine(rfc5424.WithBestEffort()),
	}
}

// details is the details object of a syslog event, encoded by
// marshalDetails; the json tags name its keys (and let tests compare the
// encoding with encoding/json's).
type details struct {
	Peer        string `json:"peer,omitempty"`
	PeerCN      string `json:"peer_cn,omitempty"`
	PeerSubject string `json:"peer_subject,omitempty"`
	// ClaimedAgentID is an agent_id the message gave that differs from
	// the client certificate's CN, which is the agent id.
	ClaimedAgentID string                       `json:"claimed_agent_id,omitempty"`
	Format         string                       `json:"format"`
	Version        int                          `json:"version,omitempty"` // of RFC 5424, when not 1
	Facility       string                       `json:"facility,omitempty"`
	SD             map[string]map[string]string `json:"sd,omitempty"`
	RawTime        string                       `json:"raw_time,omitempty"`
	ParseError     string                       `json:"parse_error,omitempty"`
	Invalid        map[string]string            `json:"invalid,omitempty"`
	Truncated      int                          `json:"truncated_from,omitempty"`
	Omitted        string                       `json:"omitted,omitempty"`

	// SDLists holds every value of SD params given more than once,
	// encoded as lists in sd; SD holds their first.
	SDLists map[string]map[string][]string `json:"-"`
	// Sequence is the sequence number Cisco devices put before the stamp.
	Sequence string `json:"sequence,omitempty"`
}

// Decode turns one frame into a normalized event received at now.
// truncated is the frame's original length when it was cut (0 otherwise).
// It never fails: what cannot be parsed is kept as an UNPARSED event with
// the raw text as message, and a mapped value that does not validate is
// moved into details.invalid.
func (d *Decoder) Decode(frame []byte, truncated int, peer Peer, now time.Time) (ev model.Event) {
	frame = trimFrameEnd(frame)
	defer func() {
		// A parser bug on hostile input must not take the listener down.
		if r := recover(); r != nil {
			ev = d.unparsed(peer.Source, details{Peer: peer.Addr, PeerCN: peer.CN,
				PeerSubject: peer.Subject, Truncated: truncated}, frame, fmt.Sprintf("parser failed: %v", r), now)
		}
	}()
	det := details{Peer: peer.Addr, PeerCN: peer.CN, PeerSubject: peer.Subject, Truncated: truncated}
	e := model.Event{Source: peer.Source, Sender: peer.Sender, ReceivedAt: now}
	var ok bool
	if hasPRI(frame) && isRFC5424(frame) {
		ok = d.decode5424(frame, &e, &det)
	} else {
		ok = d.decodeBSD(frame, &e, &det, now)
	}
	if !ok {
		return d.unparsed(e.Source, det, frame, det.ParseError, now)
	}
	if peer.CN != "" {
		// The certificate proves who sent it; what the message says does not.
		if e.AgentID != "" && e.AgentID != peer.CN {
			det.ClaimedAgentID = e.AgentID
		}
		e.AgentID = peer.CN
	}
	return d.finish(e, det, frame, now)
}

func errText(err error) string {
	if err == nil {
		return "not parseable"
	}
	return err.Error()
}

// hasPRI reports whether frame starts with <N> where N is 0 to 191.
func hasPRI(b []byte) bool {
	if len(b) < 3 || b[0] != '<' {
		return false
	}
	n, i := 0, 1
	for ; i < len(b) && i <= 4 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int(b[i]-'0')
	}
	return i > 1 && i < len(b) && b[i] == '>' && n <= 191
}

// isRFC5424 reports whether the PRI is followed by a version (1 to 3
// digits, not starting with 0) and a space.
func isRFC5424(b []byte) bool {
	return versionEnd(b) > 0
}

// versionEnd returns the index of the space after the version of an RFC
// 5424 frame, or -1.
func versionEnd(b []byte) int {
	i := bytes.IndexByte(b, '>') + 1
	if i == 0 || i >= len(b) || b[i] < '1' || b[i] > '9' {
		return -1
	}
	for j := i + 1; j < len(b) && j <= i+3; j++ {
		switch {
		case b[j] == ' ':
			return j
		case b[j] < '0' || b[j] > '9':
			return -1
		}
	}
	return -1
}

// decode5424 parses an RFC 5424 frame. The timestamp is parsed here (Go
// keeps nanoseconds and any offset); an unparseable one (leap second, no
// zone) is kept as raw text and replaced by NILVALUE for the parser.
func (d *Decoder) decode5424(frame []byte, e *model.Event, det *details) bool {
	det.Format = formatRFC5424
	input := frame
	tsStart := versionEnd(frame) + 1
	if tsEnd := bytes.IndexByte(frame[tsStart:], ' '); tsEnd > 0 {
		tsEnd += tsStart
		if ts := frame[tsStart:tsEnd]; !(len(ts) == 1 && ts[0] == '-') {
			if t, err := time.Parse(time.RFC3339Nano, string(ts)); err == nil {
				e.Time = t
			} else {
				det.RawTime = string(ts)
			}
			input = d.splice(frame, tsStart, tsEnd, "-")
		}
	}
	m, repaired, ok := d.parse5424(input, det)
	if !ok {
		return false
	}
	mapBase(&m.Base, e, det)
	if m.Version != 1 {
		det.Version = int(m.Version)
	}
	if m.MsgID != nil {
		e.Type = *m.MsgID
	}
	if m.StructuredData != nil {
		det.SD = *m.StructuredData
		mapSD(det.SD, e)
	}
	if det.ParseError != "" {
		e.Message = string(frame) // partly parsed: keep everything
	}
	if repaired != "" {
		det.ParseError = repaired
	}
	return true
}

// parse parses input strictly and, when that fails, with best effort,
// noting the strict parser's complaint in det.ParseError.
func parse[T any](strict, lenient syslog.Machine, input []byte, det *details) (*T, bool) {
	msg, err := strict.Parse(input)
	if err != nil || msg == nil {
		det.ParseError = errText(err)
		msg, _ = lenient.Parse(input)
	}
	m, ok := any(msg).(*T)
	return m, ok && m != nil
}

// splice returns frame with frame[from:to] replaced by with, in d.scratch.
func (d *Decoder) splice(frame []byte, from, to int, with string) []byte {
	d.scratch = append(append(append(d.scratch[:0], frame[:from]...), with...), frame[to:]...)
	return d.scratch
}

// mapBase copies the header fields shared by both formats.
func mapBase(b *syslog.Base, e *model.Event, det *details) {
	if b.Severity != nil {
		e.Severity = model.SeverityName(int(*b.Severity))
	}
	if b.Facility != nil {
		det.Facility = facilityName(int(*b.Facility))
	}
	if b.Timestamp != nil {
		e.Time = *b.Timestamp
	}
	if b.Hostname != nil {
		e.Host = *b.Hostname
	}
	if b.Appname != nil {
		e.App = *b.Appname
	}
	if b.ProcID != nil {
		e.Process = *b.ProcID
	}
	if b.Message != nil {
		e.Message = strings.TrimPrefix(*b.Message, string(utf8BOM))
		e.Message = strings.TrimRight(e.Message, "\r\n")
	}
}

// sdFields maps structured-data parameter names to the event fields they
// set (SPEC §3), from model.EventFields.
var sdFields = func() map[string]func(*model.Event) *string {
	m := map[string]func(*model.Event) *string{}
	for _, f := range model.EventFields {
		if f.SD != "" {
			m[f.SD] = f.Ref
		}
	}
	return m
}()

// mapSD sets the event fields named by SD params of any SD-ID. SD-IDs are
// visited in sorted order so that a name given twice maps the same way on
// every run.
func mapSD(sd map[string]map[string]string, e *model.Event) {
	var buf [8]string
	for _, id := range sortedKeys(sd, buf[:0]) {
		for name, v := range sd[id] {
			if ref, ok := sdFields[name]; ok && v != "" {
				*ref(e) = v
			}
		}
	}
	if e.Actor.ID != "" && e.Actor.Type == "" {
		e.Actor.Type = model.ActorUser
	}
}

// sortedKeys appends the keys of m to buf and sorts them.
func sortedKeys[V any](m map[string]V, buf []string) []string {
	for k := range m {
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}

// maxFixes bounds the fields finish moves aside before giving up.
const maxFixes = 24

// finish normalizes e. Each field Normalize refuses is moved into
// details.invalid (the time into details.raw_time, a too long message is
// cut, too large details lose their SD) and normalization is retried, so
// that one bad value never loses the message.
func (d *Decoder) finish(e model.Event, det details, frame []byte, now time.Time) model.Event {
	for range maxFixes {
		out := e
		out.Details = d.marshalDetails(&det)
		err := out.Normalize(now)
		if err == nil {
			return out
		}
		var fe *model.FieldError
		if !errors.As(err, &fe) {
			return d.unparsed(e.Source, det, frame, err.Error(), now)
		}
		switch fe.Field {
		case "time":
			det.RawTime = e.Time.Format(time.RFC3339Nano)
			e.Time = time.Time{}
		case "message":
			det.Truncated = max(det.Truncated, len(e.Message))
			e.Message = cutUTF8(e.Message, model.MaxMessageLen)
		case "details":
			det.SD, det.Invalid, det.Omitted = nil, nil, "structured data too large to keep"
		default:
			f, _ := model.EventFieldNamed(fe.Field)
			if f.Ref == nil || *f.Ref(&e) == "" {
				return d.unparsed(e.Source, det, frame, err.Error(), now)
			}
			if det.Invalid == nil {
				det.Invalid = map[string]string{}
			}
			p := f.Ref(&e)
			det.Invalid[fe.Field] = cutUTF8(*p, model.MaxFieldLen)
			*p = ""
		}
	}
	return d.unparsed(e.Source, det, frame, "too many invalid fields", now)
}

// unparsed keeps a frame that is not syslog as an UNPARSED event with the
// raw text as its message.
func (dec *Decoder) unparsed(source string, det details, frame []byte, reason string, now time.Time) model.Event {
	out := model.Event{Source: source, ReceivedAt: now, Type: TypeUnparsed, AgentID: det.PeerCN}
	if len(frame) > model.MaxMessageLen {
		det.Truncated = max(det.Truncated, len(frame))
		frame = frame[:model.MaxMessageLen]
	}
	out.Message = string(frame)
	d := details{Peer: det.Peer, PeerCN: det.PeerCN, PeerSubject: det.PeerSubject, ClaimedAgentID: det.ClaimedAgentID,
		Format: formatUnparsed, ParseError: cutUTF8(reason, 512), Truncated: det.Truncated}
	out.Details = dec.marshalDetails(&d)
	if err := out.Normalize(now); err != nil {
		// Cannot happen with the fields set above; keep the event anyway.
		out.Type, out.Category, out.Outcome, out.Severity = TypeUnparsed, model.CategoryUsage, "INFO", "info"
	}
	return out
}

// marshalDetails encodes det as a JSON object with its fields in
// declaration order and map keys sorted, like encoding/json but without
// reflection: it runs for every syslog message.
func marshalDetails(det *details) json.RawMessage {
	return appendDetails(make([]byte, 0, 512), det)
}

// marshalDetails is the package function encoding in the decoder's buffer:
// the event keeps a copy of exactly its size.
func (d *Decoder) marshalDetails(det *details) json.RawMessage {
	d.details = appendDetails(d.details[:0], det)
	return append(json.RawMessage(nil), d.details...)
}

// appendDetails appends det encoded as marshalDetails does to b.
func appendDetails(b []byte, det *details) []byte {
	b = append(b, '{')
	field := func(name string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
	}
	str := func(name, v string) {
		if v != "" {
			field(name)
			b = appendJSONString(b, v)
		}
	}
	var keyBuf [16]string
	strMap := func(m map[string]string) {
		b = append(b, '{')
		for i, k := range sortedKeys(m, keyBuf[:0]) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, m[k])
		}
		b = append(b, '}')
	}
	str("peer", det.Peer)
	str("peer_cn", det.PeerCN)
	str("peer_subject", det.PeerSubject)
	str("claimed_agent_id", det.ClaimedAgentID)
	field("format")
	b = appendJSONString(b, det.Format)
	if det.Version != 0 {
		field("version")
		b = strconv.AppendInt(b, int64(det.Version), 10)
	}
	str("facility", det.Facility)
	if len(det.SD) > 0 {
		field("sd")
		b = append(b, '{')
		var idBuf [8]string
		for i, id := range sortedKeys(det.SD, idBuf[:0]) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, id)
			b = append(b, ':')
			if lists := det.SDLists[id]; lists != nil {
				b = appendSDParams(b, det.SD[id], lists)
				continue
			}
			strMap(det.SD[id])
		}
		b = append(b, '}')
	}
	str("raw_time", det.RawTime)
	str("parse_error", det.ParseError)
	if len(det.Invalid) > 0 {
		field("invalid")
		strMap(det.Invalid)
	}
	if det.Truncated != 0 {
		field("truncated_from")
		b = strconv.AppendInt(b, int64(det.Truncated), 10)
	}
	str("omitted", det.Omitted)
	str("sequence", det.Sequence)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c >= 0x20 && c != '"' && c != '\\':
				b = append(b, c)
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// cutUTF8 cuts s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
