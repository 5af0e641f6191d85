package model

import (
	"encoding/json"
	"fmt"
	"time"
)

// Actor types.
const (
	ActorUser   = "USER"
	ActorSystem = "SYSTEM"
	ActorAgent  = "AGENT"
)

// Actors of Vigil's own activity.
var (
	// SchedulerActor is the actor of everything the scheduler does.
	SchedulerActor = Actor{Type: ActorSystem, ID: "scheduler"}
	// VigilActor is the actor of what the appliance does by itself: the
	// first start, a rollback or a storage outage it detects.
	VigilActor = Actor{Type: ActorSystem, ID: "vigil"}
)

// AgentActor returns the actor of an agent's action.
func AgentActor(agentID string) Actor { return Actor{Type: ActorAgent, ID: agentID} }

// UserActor returns the actor of a user's action.
func UserActor(name string) Actor { return Actor{Type: ActorUser, ID: name} }

// CLIActor returns the actor of a change made with the command line by
// the operating-system user osUser.
func CLIActor(osUser string) Actor { return UserActor("os:" + osUser) }

// ConsoleActor returns the actor of a console user's action from ip.
func ConsoleActor(name, ip string) Actor {
	a := UserActor(name)
	a.IP = ip
	return a
}

// NewAuditEvent returns a normalized AUDIT_LOG event of Vigil's own
// activity (source internal) at now. A FAILURE outcome is logged at
// severity err.
func NewAuditEvent(now time.Time, typ, outcome string, actor Actor, entity Entity, msg string, details map[string]any) (Event, error) {
	e := Event{
		Category: CategoryAuditLog, Type: typ, Outcome: outcome,
		Actor: actor, Entity: entity, Message: msg,
	}
	if outcome == "FAILURE" {
		e.Severity = "err"
	}
	if actor.Type == ActorAgent {
		e.AgentID = actor.ID
	}
	return ownEvent(now, e, details)
}

// NewSystemEvent returns a normalized SYSTEM event of what the appliance
// found by itself (actor VigilActor) at now, at severity.
func NewSystemEvent(now time.Time, typ, outcome, severity, msg string, details map[string]any) (Event, error) {
	return ownEvent(now, Event{
		Category: CategorySystem, Type: typ, Outcome: outcome, Severity: severity,
		Actor: VigilActor, Message: msg,
	}, details)
}

// NewConsoleEvent returns a normalized event of console activity (app
// console) of category by actor at now.
func NewConsoleEvent(now time.Time, category, typ, outcome string, actor Actor, msg string, details map[string]any) (Event, error) {
	return ownEvent(now, Event{
		Category: category, Type: typ, Outcome: outcome, Actor: actor, App: "console", Message: msg,
	}, details)
}

// ownEvent returns e as one of Vigil's own records (source internal) with
// details (and those seed 003 records with an administrative change),
// normalized at now.
func ownEvent(now time.Time, e Event, details map[string]any) (Event, error) {
	e.Source = SourceInternal
	details = seedDetails(&e, now, details)
	if details != nil {
		d, err := json.Marshal(details)
		if err != nil {
			return Event{}, fmt.Errorf("record %s: %w", e.Type, err)
		}
		e.Details = d
	}
	if err := e.Normalize(now); err != nil {
		return Event{}, fmt.Errorf("record %s: %w", e.Type, err)
	}
	return e, nil
}
