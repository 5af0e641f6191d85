package model

import (
	"fmt"
	"unicode"
)

// MaxAgentIDLen bounds the agent id a token is bound to: room for any DNS
// name.
const MaxAgentIDLen = 253

// ValidateAgentID checks the agent id an agent token is created for: 1-253
// bytes of printable characters without spaces.
func ValidateAgentID(id string) error {
	if id == "" || len(id) > MaxAgentIDLen {
		return Errorf(EINVALID, "agent id must be 1-%d characters", MaxAgentIDLen)
	}
	for _, r := range id {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return Errorf(EINVALID, "agent id %q: use printable characters without spaces", id)
		}
	}
	return nil
}

// AgentCall is a call of the jobs API by an agent: the agent it acts as
// and, for the audit record, the token it came with, the token's user and
// the peer address.
type AgentCall struct {
	AgentID   string
	TokenID   int64
	TokenName string
	User      string
	Addr      string
}

// Actor is the agent as the audit record names it.
func (a AgentCall) Actor() Actor {
	actor := AgentActor(a.AgentID)
	actor.IP = a.Addr
	return actor
}

// Details are the audit details naming where the call came from.
func (a AgentCall) Details() map[string]any {
	d := map[string]any{}
	if a.TokenID != 0 {
		d["token_id"], d["token_name"] = a.TokenID, a.TokenName
	}
	if a.User != "" {
		d["user"] = a.User
	}
	if a.Addr != "" {
		d["peer"] = a.Addr
	}
	return d
}

// unbound explains the refusal of an agent token created before tokens
// were bound to an agent.
func (p Principal) unbound() string {
	return fmt.Sprintf("token %q is bound to no agent: create a new agent token with "+
		"vigil token create --scope agent --agent ID and revoke this one", p.TokenName)
}

// ActAsAgent returns the agent p acts as on the jobs API, given the
// agent_id a request names ("" for none): the one its token is bound to.
// Naming another agent, or holding a token bound to none, is EFORBIDDEN.
func (p Principal) ActAsAgent(named string) (string, error) {
	if p.AgentID == "" {
		return "", &Error{Code: EFORBIDDEN, Message: p.unbound()}
	}
	if named != "" && named != p.AgentID {
		return "", Errorf(EFORBIDDEN, "token %q is bound to agent %s and may not act as agent %s", p.TokenName, p.AgentID, named)
	}
	return p.AgentID, nil
}

// BindEvents holds events posted by p to p's agent: with an agent token,
// an event without agent_id gets the token's agent (so it counts as its
// heartbeat) and an event naming another agent refuses the batch
// (EFORBIDDEN naming each such item). Other scopes post events as given.
func (p Principal) BindEvents(events []Event) error {
	if p.Scope != ScopeAgent {
		return nil
	}
	var items []ItemError
	for i := range events {
		e := &events[i]
		switch {
		case e.AgentID == "" && p.AgentID != "":
			e.AgentID = p.AgentID
		case e.AgentID == "" || e.AgentID == p.AgentID:
		case p.AgentID == "":
			items = append(items, ItemError{Index: i, Reason: fmt.Sprintf("agent_id %q: this token is bound to no agent", e.AgentID)})
		default:
			items = append(items, ItemError{Index: i, Reason: fmt.Sprintf("agent_id %q: this token is bound to agent %s", e.AgentID, p.AgentID)})
		}
	}
	if len(items) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d event(s) name another agent than the token's; nothing of this batch was stored", len(items))
	if p.AgentID == "" {
		msg = p.unbound() + "; nothing of this batch was stored"
	}
	if len(items) > 100 {
		items = items[:100]
	}
	return &Error{Code: EFORBIDDEN, Message: msg, Items: items}
}
