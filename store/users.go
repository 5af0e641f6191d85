package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"vigil/model"
)

// UserAudit returns the events that record a change of a user, given the
// user as it was before (zero for a new user) and as it is after the
// change. They are appended in the change's own transaction: the change
// and its record are stored together or not at all. It runs in the event
// writer, so it must not call the store.
type UserAudit func(before, after model.User) ([]model.Event, error)

// TokenAudit is UserAudit for a token created or revoked.
type TokenAudit func(model.Token) ([]model.Event, error)

// recorded insists on a change's audit record: a change of users or tokens
// is never stored without one.
func recorded(events []model.Event, err error) ([]model.Event, error) {
	if err == nil && len(events) == 0 {
		err = errors.New("store: a change of users or tokens without its audit record")
	}
	return events, err
}

// CreateUser stores a new user with an argon2id hash of password, with
// the events audit returns.
func (s *Store) CreateUser(ctx context.Context, name, role, password string, audit UserAudit) (model.User, error) {
	if !model.ValidRole(role) {
		return model.User{}, model.Errorf(model.EINVALID, "role %q is not one of admin, auditor, operator, viewer", role)
	}
	if !validUserName(name) {
		return model.User{}, model.Errorf(model.EINVALID, "user name %q: use 1-64 letters, digits or . _ @ -", name)
	}
	hash, err := model.HashPassword(password)
	if err != nil {
		return model.User{}, err
	}
	now := s.now().UTC()
	var u model.User
	_, err = s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		var id int64
		err := tx.QueryRow(`INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			name, role, hash, timeText(now)).Scan(&id)
		if isConstraint(err) {
			return nil, model.Errorf(model.ECONFLICT, "user %q already exists", name)
		}
		if err != nil {
			return nil, fmt.Errorf("store: create user: %w", err)
		}
		u = model.User{ID: id, Name: name, Role: role, CreatedAt: now}
		return recorded(audit(model.User{}, u))
	})
	if err != nil {
		return model.User{}, err
	}
	return u, nil
}

func validUserName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '_' || r == '@' || r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return false
		}
	}
	return true
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

// UserByName returns the user called name.
func (s *Store) UserByName(ctx context.Context, name string) (model.User, error) {
	u, _, err := s.userAndHash(ctx, name)
	return u, err
}

func (s *Store) userAndHash(ctx context.Context, name string) (model.User, string, error) {
	var u model.User
	var created, hash string
	err := s.rdb.QueryRowContext(ctx, `SELECT id, name, role, created_at, disabled, password_hash FROM users WHERE name = ?`, name).
		Scan(&u.ID, &u.Name, &u.Role, &created, &u.Disabled, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return u, "", model.Errorf(model.ENOTFOUND, "user %q not found", name)
	}
	if err != nil {
		return u, "", fmt.Errorf("store: user by name: %w", err)
	}
	u.CreatedAt = parseTimeText(created)
	return u, hash, nil
}

// Authenticate returns the user when name and password match an enabled
// user, and EUNAUTHORIZED otherwise, without saying which part was wrong.
// At most as many password checks run at once as there are cores; the
// others wait their turn, or until ctx ends.
func (s *Store) Authenticate(ctx context.Context, name, password string) (model.User, error) {
	u, hash, err := s.userAndHash(ctx, name)
	if model.ErrorCode(err) == model.ENOTFOUND {
		// Spend the same time as a real check, so timing does not tell
		// which user names exist.
		hash, u.Disabled = dummyHash(), true
	} else if err != nil {
		return model.User{}, err
	}
	ok, err := s.hashes.checkPassword(ctx, hash, password)
	if err != nil {
		return model.User{}, err
	}
	if !ok || u.Disabled {
		return model.User{}, model.Errorf(model.EUNAUTHORIZED, "wrong user name or password")
	}
	return u, nil
}

var dummyHash = sync.OnceValue(func() string {
	h, _ := model.HashPassword(model.NewSecret(16))
	return h
})

// CreateToken stores a new API token for user userName, with the events
// audit returns, and returns its secret, which is not kept and cannot be
// shown again. A token of scope agent is bound to agentID, the only agent it
// acts as; other scopes take none.
func (s *Store) CreateToken(ctx context.Context, userName, name, scope, agentID string, audit TokenAudit) (string, model.Token, error) {
	if !model.ValidScope(scope) {
		return "", model.Token{}, model.Errorf(model.EINVALID, "scope %q is not one of ingest, agent, read, manage", scope)
	}
	switch {
	case scope == model.ScopeAgent && agentID == "":
		return "", model.Token{}, model.Errorf(model.EINVALID, "an agent token needs the agent id it acts as")
	case scope == model.ScopeAgent:
		if err := model.ValidateAgentID(agentID); err != nil {
			return "", model.Token{}, err
		}
	case agentID != "":
		return "", model.Token{}, model.Errorf(model.EINVALID, "only a token of scope agent is bound to an agent id, not a %s token", scope)
	}
	if name == "" || len(name) > 128 {
		return "", model.Token{}, model.Errorf(model.EINVALID, "token name must be 1-128 characters")
	}
	secret := model.NewToken()
	now := s.now().UTC()
	var tok model.Token
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		var u model.User
		err := tx.QueryRow(`SELECT id, name, role FROM users WHERE name = ?`, userName).Scan(&u.ID, &u.Name, &u.Role)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, model.Errorf(model.ENOTFOUND, "user %q not found", userName)
		}
		if err != nil {
			return nil, fmt.Errorf("store: create token: %w", err)
		}
		if !model.ScopeAllowedForRole(scope, u.Role) {
			return nil, model.Errorf(model.EFORBIDDEN, "a %s token exceeds the role of %s (%s)", scope, u.Name, u.Role)
		}
		var id int64
		err = tx.QueryRow(`INSERT INTO tokens (user_id, name, scope, agent_id, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			u.ID, name, scope, nullStr(agentID), model.TokenHash(secret), timeText(now)).Scan(&id)
		if isConstraint(err) {
			return nil, model.Errorf(model.ECONFLICT, "user %s already has a token named %q", u.Name, name)
		}
		if err != nil {
			return nil, fmt.Errorf("store: create token: %w", err)
		}
		tok = model.Token{ID: id, UserID: u.ID, UserName: u.Name, Name: name, Scope: scope, AgentID: agentID, CreatedAt: now}
		return recorded(audit(tok))
	})
	if err != nil {
		return "", model.Token{}, err
	}
	return secret, tok, nil
}

// tokenTouchEvery limits how often a token's last use is written.
const tokenTouchEvery = time.Minute

// PrincipalByToken returns who a bearer token stands for; EUNAUTHORIZED for
// an unknown, revoked or disabled one.
func (s *Store) PrincipalByToken(ctx context.Context, secret string) (model.Principal, error) {
	var p model.Principal
	var lastUsed, agent sql.NullString
	err := s.rdb.QueryRowContext(ctx, `
		SELECT t.id, t.name, t.scope, t.agent_id, t.last_used_at, u.id, u.name, u.role, u.disabled
		FROM tokens t JOIN users u ON u.id = t.user_id
		WHERE t.secret_hash = ? AND t.revoked = 0`, model.TokenHash(secret)).
		Scan(&p.TokenID, &p.TokenName, &p.Scope, &agent, &lastUsed, &p.User.ID, &p.User.Name, &p.User.Role, &p.User.Disabled)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && p.User.Disabled) {
		return model.Principal{}, model.Errorf(model.EUNAUTHORIZED, "invalid or revoked token")
	}
	if err != nil {
		return model.Principal{}, fmt.Errorf("store: token: %w", err)
	}
	p.AgentID = agent.String
	now := s.now().UTC()
	if !lastUsed.Valid || now.Sub(parseTimeText(lastUsed.String)) > tokenTouchEvery {
		s.touch(ctx, "could not record the last use of a token", "token_id", p.TokenID, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, timeText(now), p.TokenID)
	}
	return p, nil
}

// ListUsers returns every user, by name.
func (s *Store) ListUsers(ctx context.Context) ([]model.User, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, name, role, created_at, disabled FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var users []model.User
	for rows.Next() {
		var u model.User
		var created string
		if err := rows.Scan(&u.ID, &u.Name, &u.Role, &created, &u.Disabled); err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		u.CreatedAt = parseTimeText(created)
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return users, nil
}

// SetUserRole changes the role of user name. The last enabled admin keeps
// the admin role (ECONFLICT), so the appliance can always be managed.
func (s *Store) SetUserRole(ctx context.Context, name, role string, audit UserAudit) (model.User, error) {
	if !model.ValidRole(role) {
		return model.User{}, model.Errorf(model.EINVALID, "role %q is not one of admin, auditor, operator, viewer", role)
	}
	return s.changeUser(ctx, name, func(tx *sql.Tx, u *model.User) error {
		if u.Role == model.RoleAdmin && role != model.RoleAdmin {
			if err := keepAnAdmin(tx, u.ID); err != nil {
				return err
			}
		}
		u.Role = role
		_, err := tx.Exec(`UPDATE users SET role = ? WHERE id = ?`, role, u.ID)
		return err
	}, audit)
}

// SetUserDisabled disables or enables user name. Disabling ends the
// user's sessions; the last enabled admin cannot be disabled (ECONFLICT).
func (s *Store) SetUserDisabled(ctx context.Context, name string, disabled bool, audit UserAudit) (model.User, error) {
	return s.changeUser(ctx, name, func(tx *sql.Tx, u *model.User) error {
		if disabled && u.Role == model.RoleAdmin {
			if err := keepAnAdmin(tx, u.ID); err != nil {
				return err
			}
		}
		u.Disabled = disabled
		if _, err := tx.Exec(`UPDATE users SET disabled = ? WHERE id = ?`, flag(disabled), u.ID); err != nil {
			return err
		}
		if disabled {
			return endSessions(tx, u.ID)
		}
		return nil
	}, audit)
}

// SetPassword sets a new password for user name and ends all its
// sessions, so a changed password locks out whoever held the old one.
func (s *Store) SetPassword(ctx context.Context, name, password string, audit UserAudit) (model.User, error) {
	hash, err := model.HashPassword(password)
	if err != nil {
		return model.User{}, err
	}
	return s.changeUser(ctx, name, func(tx *sql.Tx, u *model.User) error {
		if _, err := tx.Exec(`UPDATE users SET password_hash = ? WHERE id = ?`, hash, u.ID); err != nil {
			return err
		}
		return endSessions(tx, u.ID)
	}, audit)
}

// changeUser runs change on user name and appends the events audit
// returns, in one transaction of the event writer.
func (s *Store) changeUser(ctx context.Context, name string, change func(*sql.Tx, *model.User) error, audit UserAudit) (model.User, error) {
	var u model.User
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		u = model.User{}
		var created string
		err := tx.QueryRow(`SELECT id, name, role, created_at, disabled FROM users WHERE name = ?`, name).
			Scan(&u.ID, &u.Name, &u.Role, &created, &u.Disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, model.Errorf(model.ENOTFOUND, "user %q not found", name)
		}
		if err != nil {
			return nil, fmt.Errorf("store: change user: %w", err)
		}
		u.CreatedAt = parseTimeText(created)
		before := u
		if err := change(tx, &u); err != nil {
			if model.ErrorCode(err) != model.EINTERNAL {
				return nil, err
			}
			return nil, fmt.Errorf("store: change user %s: %w", name, err)
		}
		return recorded(audit(before, u))
	})
	return u, err
}

// keepAnAdmin refuses a change that would leave no enabled admin but userID.
func keepAnAdmin(tx *sql.Tx, userID int64) error {
	var n int
	err := tx.QueryRow(`SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> ?`, userID).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		return model.Errorf(model.ECONFLICT, "this is the last enabled admin; make another user admin first")
	}
	return nil
}

// ListTokens returns every API token (never its secret), newest first.
func (s *Store) ListTokens(ctx context.Context) ([]model.Token, error) {
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT t.id, t.user_id, u.name, t.name, t.scope, t.agent_id, t.created_at, t.last_used_at, t.revoked
		FROM tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	var tokens []model.Token
	for rows.Next() {
		var t model.Token
		var created string
		var agent, lastUsed sql.NullString
		if err := rows.Scan(&t.ID, &t.UserID, &t.UserName, &t.Name, &t.Scope, &agent, &created, &lastUsed, &t.Revoked); err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		t.AgentID, t.CreatedAt, t.LastUsed = agent.String, parseTimeText(created), parseTimeText(lastUsed.String)
		tokens = append(tokens, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	return tokens, nil
}

// RevokeToken revokes token id for good, with the events audit returns;
// revoking it again is a conflict.
func (s *Store) RevokeToken(ctx context.Context, id int64, audit TokenAudit) (model.Token, error) {
	var t model.Token
	_, err := s.applyAndAppend(ctx, func(tx *sql.Tx) ([]model.Event, error) {
		t = model.Token{}
		var created string
		var agent sql.NullString
		err := tx.QueryRow(`
			SELECT t.id, t.user_id, u.name, t.name, t.scope, t.agent_id, t.created_at, t.revoked
			FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?`, id).
			Scan(&t.ID, &t.UserID, &t.UserName, &t.Name, &t.Scope, &agent, &created, &t.Revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, model.Errorf(model.ENOTFOUND, "token %d not found", id)
		}
		if err != nil {
			return nil, fmt.Errorf("store: revoke token: %w", err)
		}
		if t.Revoked {
			return nil, model.Errorf(model.ECONFLICT, "token %d (%s) is already revoked", id, t.Name)
		}
		if _, err := tx.Exec(`UPDATE tokens SET revoked = 1 WHERE id = ?`, id); err != nil {
			return nil, fmt.Errorf("store: revoke token: %w", err)
		}
		t.AgentID, t.CreatedAt, t.Revoked = agent.String, parseTimeText(created), true
		return recorded(audit(t))
	})
	return t, err
}
