package model

import "time"

// Types of Vigil's own records of administrative changes. Where the
// AdminX event log operators know (seed 003) names an action, Vigil
// records it under that name with the seed's details fields; the others
// keep Vigil's names. docs/api.md lists every type Vigil records.
const (
	TypeUserCreated     = "USER_CREATED"
	TypeRoleChanged     = "E_ROLE_CHANGED"
	TypeAccountLocked   = "E_ACCOUNT_LOCKED"   // a user disabled
	TypeAccountUnlocked = "E_ACCOUNT_UNLOCKED" // a user enabled again
	TypePasswordReset   = "E_PWDRESET_SUCCEEDED"
	TypeTokenCreated    = "TOKEN_CREATED"
	TypeTokenRevoked    = "TOKEN_REVOKED"
	TypeReportRequested = "E_REPORT_REQUESTED"
	TypeReportGenerated = "E_REPORT_GENERATED"
)

// formerTypes are the names earlier versions recorded the same actions
// under. Stored events keep their type (the chain covers it), so a type
// filter looks for every name of the action (TypeNames).
var formerTypes = map[string][]string{
	TypeRoleChanged:     {"USER_ROLE_CHANGED"},
	TypeAccountLocked:   {"USER_DISABLED"},
	TypeAccountUnlocked: {"USER_ENABLED"},
	TypePasswordReset:   {"USER_PASSWORD_RESET", "USER_PASSWORD_CHANGED"},
}

// currentType maps each former name to the current one.
var currentType = func() map[string]string {
	m := map[string]string{}
	for cur, former := range formerTypes {
		for _, f := range former {
			m[f] = cur
		}
	}
	return m
}()

// TypeNames returns every name events of typ's action are stored under:
// the current name first, then the former ones; typ alone when it was
// never renamed.
func TypeNames(typ string) []string {
	if cur, ok := currentType[typ]; ok {
		typ = cur
	}
	former, ok := formerTypes[typ]
	if !ok {
		return []string{typ}
	}
	return append([]string{typ}, former...)
}

// adminChanges are the administrative changes whose details name who
// initiated them (seed 003's initiatedby): the actor's id.
var adminChanges = map[string]bool{
	TypeUserCreated: true, TypeRoleChanged: true, TypeAccountLocked: true, TypeAccountUnlocked: true,
	TypePasswordReset: true, TypeTokenCreated: true, TypeTokenRevoked: true,
}

// UserChangeDetails returns the details of a change to user username:
// seed 003's username beside Vigil's own details more (may be nil).
func UserChangeDetails(username string, more map[string]any) map[string]any {
	d := map[string]any{"username": username}
	for k, v := range more {
		d[k] = v
	}
	return d
}

// seedDetails adds to the details d of one of Vigil's administrative
// changes e, recorded at now, what seed 003 records with it: initiatedby,
// and the time as E_ROLE_CHANGED's timestamp and epoch_time (ms) or
// E_ACCOUNT_LOCKED's lockedAt.
func seedDetails(e *Event, now time.Time, d map[string]any) map[string]any {
	if !adminChanges[e.Type] {
		return d
	}
	if d == nil {
		d = map[string]any{}
	}
	if _, ok := d["initiatedby"]; !ok {
		d["initiatedby"] = e.Actor.ID
	}
	at := now.UTC().Format(time.RFC3339Nano)
	switch e.Type {
	case TypeRoleChanged:
		d["timestamp"], d["epoch_time"] = at, now.UnixMilli()
	case TypeAccountLocked:
		d["lockedAt"] = at
	}
	return d
}
