package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Event categories (SPEC §2).
const (
	CategoryUsage         = "USAGE"
	CategoryAuth          = "AUTH"
	CategoryAccessControl = "ACCESS_CONTROL"
	CategoryAuditLog      = "AUDIT_LOG"
	CategorySystem        = "SYSTEM"
)

// Categories lists every category in display order.
var Categories = []string{CategoryUsage, CategoryAuth, CategoryAccessControl, CategoryAuditLog, CategorySystem}

// Outcomes lists every accepted outcome.
var Outcomes = []string{"ALLOWED", "DENIED", "SUCCESS", "FAILURE", "INFO"}

// Severities lists the syslog severity names, most severe first; the index
// is the syslog severity number.
var Severities = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// severityAliases maps the other spellings operators use to the canonical name.
var severityAliases = map[string]string{
	"emergency": "emerg", "panic": "emerg", "critical": "crit", "error": "err",
	"warn": "warning",
}

// ActorTypes lists the accepted actor types.
var ActorTypes = []string{ActorUser, ActorSystem, ActorAgent}

// Sources of events.
const (
	SourceHTTP      = "http"
	SourceSyslogUDP = "syslog-udp"
	SourceSyslogTCP = "syslog-tcp"
	SourceSyslogTLS = "syslog-tls"
	SourceInternal  = "internal"
)

// Sources lists every source in display order. Vigil sets an event's
// source from where it came in; a sender cannot choose it, and only Vigil's
// own records are internal.
var Sources = []string{SourceHTTP, SourceSyslogUDP, SourceSyslogTCP, SourceSyslogTLS, SourceInternal}

// Limits on event fields.
const (
	MaxEventIDLen = 128
	MaxFieldLen   = 1024
	MaxMessageLen = 64 << 10
	MaxDetailsLen = 64 << 10
)

// Earliest and latest event times Vigil stores; the range of int64 nanoseconds.
var (
	minEventTime = time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)
	maxEventTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Actor is who or what caused an event.
type Actor struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	DN   string `json:"dn,omitempty"`
	IP   string `json:"ip,omitempty"`
}

// Entity is what an event is about.
type Entity struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
}

// CertRef names the certificate an event concerns.
type CertRef struct {
	Serial      string `json:"serial,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Subject     string `json:"subject,omitempty"`
}

// Event is one record of Vigil's log: an agent's event, a syslog line or the
// appliance's own activity. ID, ReceivedAt, Source and Hash are set by Vigil.
type Event struct {
	ID      int64
	EventID string
	// Sender is who sent the event, set by intake: the scope in which its
	// EventID de-duplicates retries (TokenSender, CertSender). Empty means
	// the sender is not authenticated and EventID is only data. It is not
	// stored with the event, not in its JSON and not in its hash.
	Sender      string
	Time        time.Time // event time, with the sender's offset
	ReceivedAt  time.Time
	Source      string
	Category    string
	Type        string
	Outcome     string
	Severity    string
	Actor       Actor
	Entity      Entity
	Certificate CertRef
	AgentID     string
	Host        string
	App         string
	Process     string
	Command     string
	Policy      string
	Tenant      string
	Message     string
	Details     json.RawMessage // a compact JSON object, or nil
	Hash        []byte
}

// TokenSender is the Sender of events posted with the API token of that id.
func TokenSender(tokenID int64) string { return "token:" + strconv.FormatInt(tokenID, 10) }

// CertSender is the Sender of events sent with a TLS client certificate
// (DER): its SHA-256 fingerprint.
func CertSender(der []byte) string {
	sum := sha256.Sum256(der)
	return "cert:" + hex.EncodeToString(sum[:])
}

// eventJSON is the wire form shared by intake and the read API.
type eventJSON struct {
	ID          int64           `json:"id,omitempty"`
	EventID     string          `json:"event_id,omitempty"`
	Time        json.RawMessage `json:"time,omitempty"`
	ReceivedAt  string          `json:"received_at,omitempty"`
	Source      string          `json:"source,omitempty"`
	Category    string          `json:"category,omitempty"`
	Type        string          `json:"type,omitempty"`
	Outcome     string          `json:"outcome,omitempty"`
	Severity    string          `json:"severity,omitempty"`
	Actor       *Actor          `json:"actor,omitempty"`
	Entity      *Entity         `json:"entity,omitempty"`
	Certificate *CertRef        `json:"certificate,omitempty"`
	AgentID     string          `json:"agent_id,omitempty"`
	Host        string          `json:"host,omitempty"`
	App         string          `json:"app,omitempty"`
	Process     string          `json:"process,omitempty"`
	Command     string          `json:"command,omitempty"`
	Policy      string          `json:"policy,omitempty"`
	Tenant      string          `json:"tenant,omitempty"`
	Message     string          `json:"message,omitempty"`
	Details     json.RawMessage `json:"details,omitempty"`
	Hash        string          `json:"hash,omitempty"`
	Redacted    bool            `json:"redacted,omitempty"` // read only: retention removed the content
}

// MarshalJSON writes the read form of an event (SPEC §2 and §4).
func (e Event) MarshalJSON() ([]byte, error) {
	w := eventJSON{
		ID: e.ID, EventID: e.EventID, Source: e.Source,
		Category: e.Category, Type: e.Type, Outcome: e.Outcome, Severity: e.Severity,
		AgentID: e.AgentID, Host: e.Host, App: e.App, Process: e.Process,
		Command: e.Command, Policy: e.Policy, Tenant: e.Tenant, Message: e.Message,
		Details: e.Details, Hash: fmt.Sprintf("%x", e.Hash), Redacted: e.Redacted(),
	}
	if !e.Time.IsZero() {
		w.Time = json.RawMessage(strconv.Quote(e.Time.Format(time.RFC3339Nano)))
	}
	if !e.ReceivedAt.IsZero() {
		w.ReceivedAt = e.ReceivedAt.UTC().Format(time.RFC3339Nano)
	}
	if e.Actor != (Actor{}) {
		w.Actor = &e.Actor
	}
	if e.Entity != (Entity{}) {
		w.Entity = &e.Entity
	}
	if e.Certificate != (CertRef{}) {
		w.Certificate = &e.Certificate
	}
	// Without HTML escaping: details come out byte for byte as stored, the
	// bytes the chain hash covers (docs/verification.md).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// DecodeEvent decodes one event as a client posts it over HTTP and
// normalizes it with receive time now; its source is http. Unknown fields
// are refused so that a misspelt field is reported rather than silently
// dropped; the read-only fields of the read form (id, received_at, source,
// hash) are ignored, so an exported event may be posted again, but one of
// Vigil's own SYSTEM records may not.
func DecodeEvent(data []byte, now time.Time) (Event, error) {
	var w eventJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Event{}, errors.New(JSONReason(err))
	}
	if dec.More() {
		return Event{}, fmt.Errorf("trailing data after the event object")
	}
	e := Event{
		Source:  SourceHTTP,
		EventID: w.EventID, Category: w.Category, Type: w.Type, Outcome: w.Outcome,
		Severity: w.Severity, AgentID: w.AgentID, Host: w.Host, App: w.App,
		Process: w.Process, Command: w.Command, Policy: w.Policy, Tenant: w.Tenant,
		Message: w.Message,
	}
	if w.Actor != nil {
		e.Actor = *w.Actor
	}
	if w.Entity != nil {
		e.Entity = *w.Entity
	}
	if w.Certificate != nil {
		e.Certificate = *w.Certificate
	}
	if len(w.Time) > 0 && string(w.Time) != "null" {
		t, err := parseEventTime(w.Time)
		if err != nil {
			return Event{}, err
		}
		e.Time = t
	}
	if d := bytes.TrimSpace(w.Details); len(d) > 0 && string(d) != "null" {
		if d[0] != '{' {
			return Event{}, fieldErrorf("details", "must be a JSON object")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, d); err != nil {
			return Event{}, fieldErrorf("details", "%v", err)
		}
		e.Details = buf.Bytes()
	}
	if err := e.Normalize(now); err != nil {
		return Event{}, err
	}
	return e, nil
}

// parseEventTime accepts an RFC3339 string (any offset, fraction kept) or a
// number of milliseconds since the epoch.
func parseEventTime(raw json.RawMessage) (time.Time, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, fieldErrorf("time", "%v", err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fieldErrorf("time", "%q is not RFC3339 (e.g. 2026-01-02T15:04:05.123+01:00)", s)
		}
		return t, nil
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return time.Time{}, fieldErrorf("time", "must be an RFC3339 string or integer epoch milliseconds")
	}
	if ms < minEventTime.UnixMilli() || ms > maxEventTime.UnixMilli() {
		return time.Time{}, fieldErrorf("time", "%d ms is out of range", ms)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// Normalize fills defaults, canonicalizes enumerations and checks every
// field. now is the receive time, used when the event has no time of its own.
// A refused value is a *FieldError naming the field, safe to show to the
// sender.
//
// It is where the reserved category is enforced, once for every intake:
// SYSTEM is Vigil's own console activity, so only an event of source
// internal may have it. HTTP intake refuses the item; the syslog decoder
// keeps the message and moves the claim to details.invalid.category.
func (e *Event) Normalize(now time.Time) error {
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = now
	}
	if e.Time.IsZero() {
		e.Time = e.ReceivedAt
	}
	if e.Time.Before(minEventTime) || !e.Time.Before(maxEventTime) {
		return fieldErrorf("time", "%s is out of range", e.Time.Format(time.RFC3339))
	}
	var err error
	if e.Category, err = oneOf("category", e.Category, CategoryUsage, Categories, strings.ToUpper); err != nil {
		return err
	}
	if e.Category == CategorySystem && e.Source != SourceInternal {
		return fieldErrorf("category", "SYSTEM is reserved for Vigil's own activity; send USAGE, AUTH, ACCESS_CONTROL or AUDIT_LOG")
	}
	if e.Outcome, err = oneOf("outcome", e.Outcome, "INFO", Outcomes, strings.ToUpper); err != nil {
		return err
	}
	sev := strings.ToLower(e.Severity)
	if a, ok := severityAliases[sev]; ok {
		sev = a
	}
	if e.Severity, err = oneOf("severity", sev, "info", Severities, strings.ToLower); err != nil {
		return err
	}
	if e.Actor.Type != "" {
		if e.Actor.Type, err = oneOf("actor.type", e.Actor.Type, "", ActorTypes, strings.ToUpper); err != nil {
			return err
		}
	}
	if e.Actor.IP != "" {
		if _, perr := netip.ParseAddr(e.Actor.IP); perr != nil {
			return fieldErrorf("actor.ip", "%q is not an IP address", e.Actor.IP)
		}
	}
	if e.Type == "" {
		e.Type = "EVENT"
	}
	if !isName(e.Type, 64) {
		return fieldErrorf("type", "%q must be 1-64 letters, digits or _ . : -", e.Type)
	}
	if e.Entity.Type != "" {
		e.Entity.Type = strings.ToUpper(e.Entity.Type)
		if !isName(e.Entity.Type, 32) {
			return fieldErrorf("entity.type", "%q must be 1-32 letters, digits or _ . : -", e.Entity.Type)
		}
	}
	if fp := e.Certificate.Fingerprint; fp != "" {
		fp = strings.ToLower(strings.ReplaceAll(fp, ":", ""))
		if len(fp) != 64 || strings.Trim(fp, "0123456789abcdef") != "" {
			return fieldErrorf("certificate.fingerprint", "must be a SHA-256 hex digest (64 hex digits)")
		}
		e.Certificate.Fingerprint = fp
	}
	if len(e.EventID) > MaxEventIDLen {
		return fieldErrorf("event_id", "longer than %d characters", MaxEventIDLen)
	}
	if len(e.Message) > MaxMessageLen {
		return fieldErrorf("message", "longer than %d bytes", MaxMessageLen)
	}
	if len(e.Details) > MaxDetailsLen {
		return fieldErrorf("details", "longer than %d bytes", MaxDetailsLen)
	}
	for _, f := range freeTextFields {
		if len(*f.Ref(e)) > MaxFieldLen {
			return fieldErrorf(f.Name, "longer than %d bytes", MaxFieldLen)
		}
	}
	return nil
}

// oneOf canonicalizes v with norm and checks it is one of allowed; an empty
// v takes def.
func oneOf(field, v, def string, allowed []string, norm func(string) string) (string, error) {
	if v == "" {
		return def, nil
	}
	v = norm(v)
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", fieldErrorf(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

// isName reports whether s is 1..max characters of letters, digits and _.:-.
func isName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		ok := r == '_' || r == '.' || r == ':' || r == '-' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

// SeverityName returns the severity name of a syslog severity number.
func SeverityName(n int) string {
	if n < 0 || n >= len(Severities) {
		return "info"
	}
	return Severities[n]
}

// ValidUTF8 returns s with invalid UTF-8 sequences and NUL bytes escaped as
// \xNN, for display.
func ValidUTF8(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || r == 0 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
