package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"vigil/model"
	"vigil/store"
)

// settingsView is the Settings page: users and API tokens.
type settingsView struct {
	Users    []model.User
	Tokens   []model.Token
	Roles    []string
	Scopes   []string
	CanEdit  bool
	NewToken *newToken // shown once, right after creation

	Schedules  []Schedule
	PublicKey  string          // verifier key of the checkpoints
	Checkpoint *checkpointJSON // the newest, if any
	TSAURL     string          // the time-stamping authority; "" when off
	Index      store.IndexStatus
	Form       map[string]string
	Retention  retentionView
}

// newToken is a token just created, with its secret.
type newToken struct {
	Secret string
	Token  model.Token
}

// settingsDone are the confirmations a change redirects to (?done=KEY):
// fixed texts, so no one can put words on the page through a link.
var settingsDone = map[string]string{
	"user_created":   "User created.",
	"role_changed":   "Role changed. It applies to the user's next request.",
	"user_disabled":  "User disabled and signed out everywhere.",
	"user_enabled":   "User enabled.",
	"password_reset": "Password reset. The user's sessions have ended.",
	"token_revoked":  "Token revoked. It no longer works.",
	"checkpoint":     "Checkpoint signed. Keep a copy of it off this machine.",
	"rule_set":       "Retention rule saved. It applies from the next retention run.",
	"rule_deleted":   "Retention rule deleted. Its events fall under the next rule that matches them.",
	"hold_placed":    "Legal hold placed. Retention keeps what it covers from the next run on.",
	"hold_released":  "Legal hold released.",
}

func (s *Server) settingsPage(c echo.Context) error {
	return s.renderSettings(c, http.StatusOK, &pageData{Flash: settingsDone[c.QueryParam("done")]}, nil)
}

// renderSettings renders the Settings page with data's messages; nt is a
// token just created.
func (s *Server) renderSettings(c echo.Context, status int, data *pageData, nt *newToken) error {
	ctx := c.Request().Context()
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return err
	}
	tokens, err := s.store.ListTokens(ctx)
	if err != nil {
		return err
	}
	data.Title, data.Section = "Settings", "/settings"
	view := &settingsView{
		Users: users, Tokens: tokens, Roles: model.Roles, Scopes: model.Scopes,
		CanEdit: principal(c).User.Role == model.RoleAdmin, NewToken: nt,
		Form: map[string]string{}, Schedules: s.cfg.Schedules, Index: s.store.IndexStatus(), TSAURL: s.cfg.TSAURL,
	}
	if view.Retention, err = s.retentionSettings(ctx); err != nil {
		return err
	}
	if s.cfg.CheckpointKey != nil {
		view.PublicKey = s.cfg.CheckpointKey.PublicKey()
	}
	switch cp, err := s.store.LatestCheckpoint(ctx); {
	case err == nil:
		j := s.checkpointJSON(cp)
		view.Checkpoint = &j
	case model.ErrorCode(err) != model.ENOTFOUND:
		return err
	}
	data.Page = view
	if status == http.StatusOK && !isHTMX(c) && c.Request().Method == http.MethodGet {
		if err := s.recordSystem(c, "E_SECTION_VISITED", "INFO", "Opened Settings", nil); err != nil {
			return err
		}
	}
	return s.render(c, status, "settings", "", data)
}

// settingsChanged finishes a change: on success a redirect to the page
// with its confirmation; a caller's mistake is shown on the page with its
// status; anything else (storage failing: 503 with Retry-After) is
// answered by the error handler.
func (s *Server) settingsChanged(c echo.Context, err error, done string) error {
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/settings?done="+done)
	}
	code := model.ErrorCode(err)
	if code == model.EINTERNAL || code == model.EUNAVAILABLE {
		return err
	}
	return s.renderSettings(c, statusOf[code], &pageData{Error: model.ErrorMessage(err)}, nil)
}

func userEntity(name string) model.Entity { return model.Entity{Type: "USER", ID: name} }

func tokenEntity(id int64) model.Entity {
	return model.Entity{Type: "TOKEN", ID: strconv.FormatInt(id, 10)}
}

func (s *Server) createUser(c echo.Context) error {
	name, role := strings.TrimSpace(c.FormValue("username")), c.FormValue("role")
	_, err := s.store.CreateUser(c.Request().Context(), name, role, c.FormValue("password"), func(_, u model.User) ([]model.Event, error) {
		return s.consoleChange(c, model.TypeUserCreated, userEntity(u.Name),
			fmt.Sprintf("Created user %s (%s)", u.Name, u.Role), model.UserChangeDetails(u.Name, map[string]any{"role": u.Role, "via": "console"}))
	})
	return s.settingsChanged(c, err, "user_created")
}

func (s *Server) changeRole(c echo.Context) error {
	_, err := s.store.SetUserRole(c.Request().Context(), c.Param("name"), c.FormValue("role"), func(before, u model.User) ([]model.Event, error) {
		return s.consoleChange(c, model.TypeRoleChanged, userEntity(u.Name),
			fmt.Sprintf("Changed the role of %s from %s to %s", u.Name, before.Role, u.Role),
			model.UserChangeDetails(u.Name, map[string]any{
				"role_changed_from": before.Role, "role_changed_to": u.Role, "old_role": before.Role, "new_role": u.Role,
			}))
	})
	return s.settingsChanged(c, err, "role_changed")
}

func (s *Server) setDisabled(c echo.Context) error {
	name := c.Param("name")
	var disabled bool
	switch c.FormValue("disabled") {
	case "1":
		disabled = true
	case "0":
	default:
		return s.settingsChanged(c, model.Errorf(model.EINVALID, "disabled must be 1 or 0"), "")
	}
	typ, msg, done := model.TypeAccountUnlocked, "Enabled user "+name, "user_enabled"
	reason, code := "enabled by an administrator", "ENABLED_BY_ADMIN"
	if disabled {
		typ, msg, done = model.TypeAccountLocked, "Disabled user "+name+" and ended its sessions", "user_disabled"
		reason, code = "disabled by an administrator", "DISABLED_BY_ADMIN"
	}
	_, err := s.store.SetUserDisabled(c.Request().Context(), name, disabled, func(_, u model.User) ([]model.Event, error) {
		return s.consoleChange(c, typ, userEntity(u.Name), msg,
			model.UserChangeDetails(u.Name, map[string]any{"reason": reason, "reasonCode": code}))
	})
	return s.settingsChanged(c, err, done)
}

func (s *Server) resetPassword(c echo.Context) error {
	_, err := s.store.SetPassword(c.Request().Context(), c.Param("name"), c.FormValue("password"), func(_, u model.User) ([]model.Event, error) {
		return s.consoleChange(c, model.TypePasswordReset, userEntity(u.Name), "Reset the password of "+u.Name+" and ended its sessions",
			model.UserChangeDetails(u.Name, nil))
	})
	return s.settingsChanged(c, err, "password_reset")
}

func (s *Server) createToken(c echo.Context) error {
	user, name, scope := c.FormValue("user"), strings.TrimSpace(c.FormValue("name")), c.FormValue("scope")
	// The form sends the agent field with every scope; only an agent
	// token is bound to it.
	agent := strings.TrimSpace(c.FormValue("agent_id"))
	if scope != model.ScopeAgent {
		agent = ""
	}
	secret, tok, err := s.store.CreateToken(c.Request().Context(), user, name, scope, agent, func(t model.Token) ([]model.Event, error) {
		return s.consoleChange(c, model.TypeTokenCreated, tokenEntity(t.ID), t.CreatedMessage(), t.AuditDetails("console"))
	})
	if err != nil {
		return s.settingsChanged(c, err, "")
	}
	return s.renderSettings(c, http.StatusCreated, &pageData{Flash: "Token created. Copy it now: it is shown only this once."},
		&newToken{Secret: secret, Token: tok})
}

func (s *Server) revokeToken(c echo.Context) error {
	id, err := pathID(c, "token")
	if err != nil {
		return s.settingsChanged(c, err, "")
	}
	_, err = s.store.RevokeToken(c.Request().Context(), id, func(t model.Token) ([]model.Event, error) {
		return s.consoleChange(c, model.TypeTokenRevoked, tokenEntity(t.ID),
			fmt.Sprintf("Revoked %s token %q of %s", t.Scope, t.Name, t.UserName),
			model.UserChangeDetails(t.UserName, map[string]any{"user": t.UserName, "name": t.Name, "scope": t.Scope}))
	})
	return s.settingsChanged(c, err, "token_revoked")
}

// signCheckpoint signs a checkpoint now, from the Settings page.
func (s *Server) signCheckpoint(c echo.Context) error {
	if s.cfg.CheckpointKey == nil {
		return model.Errorf(model.EUNAVAILABLE, "no checkpoint key is configured")
	}
	_, err := s.signAuditedCheckpoint(c)
	return s.settingsChanged(c, err, "checkpoint")
}
