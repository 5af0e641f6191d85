package model

import (
	"fmt"
	"slices"
	"time"
)

// Roles (SPEC §5).
const (
	RoleAdmin    = "admin"
	RoleAuditor  = "auditor"
	RoleOperator = "operator"
	RoleViewer   = "viewer"
)

// Roles lists every role.
var Roles = []string{RoleAdmin, RoleAuditor, RoleOperator, RoleViewer}

// Token scopes (SPEC §1).
const (
	ScopeIngest = "ingest" // post events
	ScopeAgent  = "agent"  // ingest plus job claim and result
	ScopeRead   = "read"   // GET routes
	ScopeManage = "manage" // read plus changes
)

// Scopes lists every token scope.
var Scopes = []string{ScopeIngest, ScopeAgent, ScopeRead, ScopeManage}

// User is a console user.
type User struct {
	ID        int64
	Name      string
	Role      string
	CreatedAt time.Time
	Disabled  bool
}

// Token is an API token; its secret is shown once and stored hashed.
type Token struct {
	ID        int64
	UserID    int64
	UserName  string
	Name      string
	Scope     string
	AgentID   string // the agent an agent token acts as ("" for other scopes, and for agent tokens bound to none)
	CreatedAt time.Time
	LastUsed  time.Time
	Revoked   bool
}

// CreatedMessage is the audit message of the token's creation.
func (t Token) CreatedMessage() string {
	msg := fmt.Sprintf("Created %s token %q for %s", t.Scope, t.Name, t.UserName)
	if t.AgentID != "" {
		msg += " bound to agent " + t.AgentID
	}
	return msg
}

// AuditDetails are the audit details of the token's creation, made via
// the console or the cli.
func (t Token) AuditDetails(via string) map[string]any {
	d := UserChangeDetails(t.UserName, map[string]any{"user": t.UserName, "name": t.Name, "scope": t.Scope, "via": via})
	if t.AgentID != "" {
		d["agent_id"] = t.AgentID
	}
	return d
}

// Principal is who is calling: a user, through a session or a token. A
// session has Scope "" and may do whatever the role allows.
type Principal struct {
	User  User
	Scope string
	// TokenID and TokenName name the API token a call came with (0 and ""
	// for a console session).
	TokenID   int64
	TokenName string
	// AgentID is the agent an agent token is bound to: the only one it
	// claims, reports and heartbeats as ("" otherwise).
	AgentID string
}

// ValidRole reports whether r names a role.
func ValidRole(r string) bool { return slices.Contains(Roles, r) }

// ValidScope reports whether s names a token scope.
func ValidScope(s string) bool { return slices.Contains(Scopes, s) }

// RoleMayChange reports whether the role may change anything at all.
func RoleMayChange(role string) bool { return role == RoleAdmin || role == RoleOperator }

// ScopeAllowedForRole reports whether a token of scope may be created for a
// user of role: a token never exceeds its user's role.
func ScopeAllowedForRole(scope, role string) bool {
	switch scope {
	case ScopeRead:
		return ValidRole(role)
	case ScopeIngest, ScopeAgent, ScopeManage:
		return RoleMayChange(role)
	}
	return false
}

// CanIngest reports whether p may post events.
func (p Principal) CanIngest() bool {
	return RoleMayChange(p.User.Role) && (p.Scope == ScopeIngest || p.Scope == ScopeAgent)
}

// CanRead reports whether p may use the read routes.
func (p Principal) CanRead() bool {
	return p.Scope == "" || p.Scope == ScopeRead || p.Scope == ScopeManage
}

// CanManage reports whether p may make changes: a session or a manage
// token, of a role that may change anything. Routes narrow it further by
// role (users and tokens are admin only).
func (p Principal) CanManage() bool {
	return RoleMayChange(p.User.Role) && (p.Scope == "" || p.Scope == ScopeManage)
}

// CanRunJobs reports whether p may claim jobs and report their results.
func (p Principal) CanRunJobs() bool {
	return RoleMayChange(p.User.Role) && p.Scope == ScopeAgent
}

// Visibility says which events a role sees: whole categories, plus for an
// operator the SYSTEM events that are its own or the scheduler's.
type Visibility struct {
	Categories []string // categories seen whole
	OwnSystem  string   // if set, SYSTEM events with this actor id or actor type SYSTEM
}

// VisibilityFor returns what u may see.
func VisibilityFor(u User) Visibility {
	switch u.Role {
	case RoleAdmin, RoleAuditor:
		return Visibility{Categories: Categories}
	case RoleOperator:
		return Visibility{
			Categories: []string{CategoryUsage, CategoryAuth, CategoryAccessControl, CategoryAuditLog},
			OwnSystem:  u.Name,
		}
	case RoleViewer:
		return Visibility{Categories: []string{CategoryUsage, CategoryAuth, CategoryAccessControl}}
	}
	return Visibility{}
}

// All reports whether v sees every event.
func (v Visibility) All() bool { return len(v.Categories) == len(Categories) }

// MaySeeCategory reports whether a filter naming category c is allowed:
// true when v sees any event of c.
func (v Visibility) MaySeeCategory(c string) bool {
	return slices.Contains(v.Categories, c) || (c == CategorySystem && v.OwnSystem != "")
}

// MaySee reports whether v includes event e.
func (v Visibility) MaySee(e Event) bool {
	if slices.Contains(v.Categories, e.Category) {
		return true
	}
	return e.Category == CategorySystem && v.OwnSystem != "" &&
		(e.Actor.Type == ActorSystem || e.Actor.ID == v.OwnSystem)
}
