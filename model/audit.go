package model

import (
	"encoding/json"
	"fmt"
	"time"
)

// Actors of Vigil's own activity.
var (
	// SchedulerActor is the actor of everything the scheduler does.
	SchedulerActor = Actor{Type: "SYSTEM", ID: "scheduler"}
)

// AgentActor returns the actor of an agent's action.
func AgentActor(agentID string) Actor { return Actor{Type: "AGENT", ID: agentID} }

// UserActor returns the actor of a user's action.
func UserActor(name string) Actor { return Actor{Type: "USER", ID: name} }

// NewAuditEvent returns a normalized AUDIT_LOG event of Vigil's own
// activity (source internal) at now. A FAILURE outcome is logged at
// severity err.
func NewAuditEvent(now time.Time, typ, outcome string, actor Actor, entity Entity, msg string, details map[string]any) (Event, error) {
	e := Event{
		Category: CategoryAuditLog, Type: typ, Outcome: outcome, Source: SourceInternal,
		Actor: actor, Entity: entity, Message: msg,
	}
	if outcome == "FAILURE" {
		e.Severity = "err"
	}
	if actor.Type == "AGENT" {
		e.AgentID = actor.ID
	}
	if details != nil {
		d, err := json.Marshal(details)
		if err != nil {
			return Event{}, fmt.Errorf("audit event %s: %w", typ, err)
		}
		e.Details = d
	}
	if err := e.Normalize(now); err != nil {
		return Event{}, fmt.Errorf("audit event %s: %w", typ, err)
	}
	return e, nil
}
