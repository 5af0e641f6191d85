package model

import (
	"fmt"
	"strconv"
	"time"
)

// EventField describes one field of an event for intake, export and
// display: the syslog structured-data mapping, the CSV columns and the
// console's detail view all read EventFields. The chain's canonical
// encoding (store) spells the fields out on purpose and does not use it:
// an event's hash must never change because this table did.
type EventField struct {
	Name  string // as in the JSON and in a FieldError: "actor.ip"
	Go    string // the Event struct field it is: "Actor.IP"
	CSV   string // its column in the CSV export
	Label string // its label in the console's detail view; "" if not listed there
	SD    string // the syslog structured-data parameter that sets it (SPEC §3); "" if none
	// FreeText marks a string Normalize only bounds, to MaxFieldLen bytes.
	FreeText bool
	// Ref returns the field itself when it is a string; nil otherwise.
	Ref func(*Event) *string
	// Text returns the value as exported and shown.
	Text func(*Event) string
}

// EventFields lists every field of an event but Sender (which is not
// stored), in the order of the CSV export's columns.
var EventFields = withText([]EventField{
	{Name: "id", Go: "ID", CSV: "id", Label: "Sequence id",
		Text: func(e *Event) string { return strconv.FormatInt(e.ID, 10) }},
	{Name: "time", Go: "Time", CSV: "time", Label: "Time",
		Text: func(e *Event) string { return e.Time.Format(time.RFC3339Nano) }},
	{Name: "received_at", Go: "ReceivedAt", CSV: "received_at", Label: "Received",
		Text: func(e *Event) string { return e.ReceivedAt.UTC().Format(time.RFC3339Nano) }},
	{Name: "source", Go: "Source", CSV: "source", Label: "Source",
		Ref: func(e *Event) *string { return &e.Source }},
	{Name: "category", Go: "Category", CSV: "category", Label: "Category", SD: "category",
		Ref: func(e *Event) *string { return &e.Category }},
	{Name: "type", Go: "Type", CSV: "type", Label: "Type", SD: "type",
		Ref: func(e *Event) *string { return &e.Type }},
	{Name: "outcome", Go: "Outcome", CSV: "outcome", Label: "Outcome", SD: "outcome",
		Ref: func(e *Event) *string { return &e.Outcome }},
	{Name: "severity", Go: "Severity", CSV: "severity", Label: "Severity",
		Ref: func(e *Event) *string { return &e.Severity }},
	{Name: "actor.type", Go: "Actor.Type", CSV: "actor_type", Label: "Actor type", SD: "actor_type",
		Ref: func(e *Event) *string { return &e.Actor.Type }},
	{Name: "actor.id", Go: "Actor.ID", CSV: "actor_id", Label: "Actor id", SD: "user", FreeText: true,
		Ref: func(e *Event) *string { return &e.Actor.ID }},
	{Name: "actor.dn", Go: "Actor.DN", CSV: "actor_dn", Label: "Actor DN", SD: "dn", FreeText: true,
		Ref: func(e *Event) *string { return &e.Actor.DN }},
	{Name: "actor.ip", Go: "Actor.IP", CSV: "actor_ip", Label: "Actor IP", SD: "ip",
		Ref: func(e *Event) *string { return &e.Actor.IP }},
	{Name: "entity.type", Go: "Entity.Type", CSV: "entity_type", Label: "Entity type", SD: "entity_type",
		Ref: func(e *Event) *string { return &e.Entity.Type }},
	{Name: "entity.id", Go: "Entity.ID", CSV: "entity_id", Label: "Entity id", SD: "entity_id", FreeText: true,
		Ref: func(e *Event) *string { return &e.Entity.ID }},
	{Name: "certificate.serial", Go: "Certificate.Serial", CSV: "cert_serial", Label: "Certificate serial", SD: "cert_serial", FreeText: true,
		Ref: func(e *Event) *string { return &e.Certificate.Serial }},
	{Name: "certificate.fingerprint", Go: "Certificate.Fingerprint", CSV: "cert_fingerprint", Label: "Certificate fingerprint", SD: "cert_fingerprint",
		Ref: func(e *Event) *string { return &e.Certificate.Fingerprint }},
	{Name: "certificate.subject", Go: "Certificate.Subject", CSV: "cert_subject", Label: "Certificate subject", SD: "cert_subject", FreeText: true,
		Ref: func(e *Event) *string { return &e.Certificate.Subject }},
	{Name: "agent_id", Go: "AgentID", CSV: "agent_id", Label: "Agent", SD: "agent_id", FreeText: true,
		Ref: func(e *Event) *string { return &e.AgentID }},
	{Name: "host", Go: "Host", CSV: "host", Label: "Host", FreeText: true,
		Ref: func(e *Event) *string { return &e.Host }},
	{Name: "app", Go: "App", CSV: "app", Label: "App", FreeText: true,
		Ref: func(e *Event) *string { return &e.App }},
	{Name: "process", Go: "Process", CSV: "process", Label: "Process", FreeText: true,
		Ref: func(e *Event) *string { return &e.Process }},
	{Name: "command", Go: "Command", CSV: "command", Label: "Command", SD: "command", FreeText: true,
		Ref: func(e *Event) *string { return &e.Command }},
	{Name: "policy", Go: "Policy", CSV: "policy", Label: "Policy", SD: "policy", FreeText: true,
		Ref: func(e *Event) *string { return &e.Policy }},
	{Name: "tenant", Go: "Tenant", CSV: "tenant", Label: "Tenant", SD: "tenant", FreeText: true,
		Ref: func(e *Event) *string { return &e.Tenant }},
	{Name: "event_id", Go: "EventID", CSV: "event_id", Label: "Event id", SD: "event_id",
		Ref: func(e *Event) *string { return &e.EventID }},
	{Name: "message", Go: "Message", CSV: "message", Label: "Message",
		Ref: func(e *Event) *string { return &e.Message }},
	{Name: "details", Go: "Details", CSV: "details",
		Text: func(e *Event) string { return string(e.Details) }},
	{Name: "hash", Go: "Hash", CSV: "hash",
		Text: func(e *Event) string { return fmt.Sprintf("%x", e.Hash) }},
})

// withText gives each string field without a Text its value as Text.
func withText(fields []EventField) []EventField {
	for i := range fields {
		if ref := fields[i].Ref; ref != nil && fields[i].Text == nil {
			fields[i].Text = func(e *Event) string { return *ref(e) }
		}
	}
	return fields
}

// eventFieldsByName indexes EventFields by Name.
var eventFieldsByName = func() map[string]EventField {
	m := make(map[string]EventField, len(EventFields))
	for _, f := range EventFields {
		m[f.Name] = f
	}
	return m
}()

// freeTextFields are the fields of EventFields marked FreeText.
var freeTextFields = func() []EventField {
	var fs []EventField
	for _, f := range EventFields {
		if f.FreeText {
			fs = append(fs, f)
		}
	}
	return fs
}()

// EventFieldNamed returns the field of that Name.
func EventFieldNamed(name string) (EventField, bool) {
	f, ok := eventFieldsByName[name]
	return f, ok
}
