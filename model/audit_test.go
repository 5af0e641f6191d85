package model

import (
	"strings"
	"testing"
	"time"
)

// TestOwnEvents: the constructors of Vigil's own records give each the
// internal source, its category, actor and normalized fields.
func TestOwnEvents(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mk := func(e Event, err error) Event {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, tc := range []struct {
		name                               string
		e                                  Event
		category, severity, actor, details string
	}{
		{"AuditFailureByAgent", mk(NewAuditEvent(now, "X_FAILED", "FAILURE", AgentActor("a1"), Entity{Type: "job", ID: "1"}, "m", nil)),
			CategoryAuditLog, "err", "AGENT/a1", ""},
		{"SystemByVigil", mk(NewSystemEvent(now, "E_ROLLBACK_DETECTED", "FAILURE", "crit", "m", map[string]any{"k": 1})),
			CategorySystem, "crit", "SYSTEM/vigil", `{"k":1}`},
		{"ConsoleLogin", mk(NewConsoleEvent(now, CategoryAuth, "LOGIN", "FAILURE", ConsoleActor("bob", "10.0.0.2"), "m", map[string]any{})),
			CategoryAuth, "info", "USER/bob", `{}`},
		{"CommandLine", mk(NewAuditEvent(now, "USER_CREATED", "SUCCESS", CLIActor("root"), Entity{}, "m", nil)),
			CategoryAuditLog, "info", "USER/os:root", `{"initiatedby":"os:root"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.e
			if e.Source != SourceInternal || e.Category != tc.category || e.Severity != tc.severity ||
				e.Actor.Type+"/"+e.Actor.ID != tc.actor || string(e.Details) != tc.details || !e.ReceivedAt.Equal(now) {
				t.Errorf("%+v", e)
			}
		})
	}
	if e := mk(NewAuditEvent(now, "T", "SUCCESS", AgentActor("a1"), Entity{}, "m", nil)); e.AgentID != "a1" {
		t.Errorf("an agent's audit event has agent_id %q", e.AgentID)
	}
	if e := mk(NewConsoleEvent(now, CategorySystem, "T", "SUCCESS", ConsoleActor("bob", "::1"), "m", nil)); e.App != "console" || e.Actor.IP != "::1" {
		t.Errorf("console event app %q actor %+v", e.App, e.Actor)
	}
}

func TestTypeNames(t *testing.T) {
	for typ, want := range map[string]string{
		"E_ROLE_CHANGED":        "E_ROLE_CHANGED USER_ROLE_CHANGED",
		"USER_ROLE_CHANGED":     "E_ROLE_CHANGED USER_ROLE_CHANGED",
		"USER_PASSWORD_CHANGED": "E_PWDRESET_SUCCEEDED USER_PASSWORD_RESET USER_PASSWORD_CHANGED",
		"CERT_USED":             "CERT_USED",
	} {
		if got := strings.Join(TypeNames(typ), " "); got != want {
			t.Errorf("TypeNames(%s) = %s, want %s", typ, got, want)
		}
	}
}
