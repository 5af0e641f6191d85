package handlers

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"vigil/model"
)

// auditEvents returns the AUDIT_LOG events of type typ.
func (env *testEnv) eventsOf(category, typ string) []model.Event {
	env.t.Helper()
	found, err := env.st.FindEvents(context.Background(), model.EventFilter{
		Categories: []string{category}, Type: typ, Visibility: model.VisibilityFor(env.users["admin"]),
	})
	ev := found.Events
	if err != nil {
		env.t.Fatal(err)
	}
	return ev
}

func TestSettingsChanges(t *testing.T) {
	for _, tc := range []struct {
		name      string
		path      string
		form      url.Values
		want      int
		says      string // on the page (errors) or the redirect's confirmation
		auditType string // AUDIT_LOG event expected, "" for none
		check     func(t *testing.T, env *testEnv)
	}{
		{"CreateUser", "/settings/users", url.Values{"username": {"erin"}, "role": {"operator"}, "password": {"erin-password-1"}},
			303, "User created", "USER_CREATED", func(t *testing.T, env *testEnv) {
				if resp := env.login("erin", "erin-password-1", ""); resp.StatusCode != 303 {
					t.Errorf("the new user cannot sign in: %d", resp.StatusCode)
				}
			}},
		{"CreateUserShortPassword", "/settings/users", url.Values{"username": {"erin"}, "role": {"operator"}, "password": {"short"}},
			400, "at least 12 characters", "", nil},
		{"CreateUserTwice", "/settings/users", url.Values{"username": {"viewer"}, "role": {"viewer"}, "password": {"another-password-1"}},
			409, "already exists", "", nil},
		{"CreateUserBadRole", "/settings/users", url.Values{"username": {"x"}, "role": {"root"}, "password": {"another-password-1"}},
			400, "is not one of", "", nil},
		{"ChangeRole", "/settings/users/viewer/role", url.Values{"role": {"auditor"}},
			303, "Role changed", "E_ROLE_CHANGED", func(t *testing.T, env *testEnv) {
				if u, _ := env.st.UserByName(context.Background(), "viewer"); u.Role != model.RoleAuditor {
					t.Errorf("role now %s", u.Role)
				}
			}},
		{"DemoteLastAdmin", "/settings/users/admin/role", url.Values{"role": {"viewer"}},
			409, "last enabled admin", "", nil},
		{"RoleOfMissingUser", "/settings/users/ghost/role", url.Values{"role": {"viewer"}},
			404, "not found", "", nil},
		{"DisableUser", "/settings/users/operator/disabled", url.Values{"disabled": {"1"}},
			303, "User disabled", "E_ACCOUNT_LOCKED", func(t *testing.T, env *testEnv) {
				if resp := env.login("operator", password("operator"), ""); resp.StatusCode != 401 {
					t.Errorf("a disabled user signed in: %d", resp.StatusCode)
				}
			}},
		{"DisabledMustBeBool", "/settings/users/operator/disabled", url.Values{"disabled": {"maybe"}},
			400, "disabled must be 1 or 0", "", nil},
		{"ResetPassword", "/settings/users/auditor/password", url.Values{"password": {"fresh-password-99"}},
			303, "Password reset", "E_PWDRESET_SUCCEEDED", func(t *testing.T, env *testEnv) {
				if resp := env.login("auditor", "fresh-password-99", ""); resp.StatusCode != 303 {
					t.Errorf("the new password does not work: %d", resp.StatusCode)
				}
			}},
		{"CreateTokenBeyondRole", "/settings/tokens", url.Values{"user": {"viewer"}, "name": {"t"}, "scope": {"manage"}},
			403, "exceeds the role", "", nil},
		{"RevokeMissingToken", "/settings/tokens/77/revoke", nil, 404, "not found", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			victim := env.session("auditor")
			resp := env.do(http.MethodPost, tc.path, env.session("admin"), tc.form.Encode(), nil)
			body := readBody(t, resp)
			if resp.StatusCode != tc.want {
				t.Fatalf("got %d, want %d:\n%s", resp.StatusCode, tc.want, body)
			}
			if resp.StatusCode == http.StatusSeeOther {
				page := env.do(http.MethodGet, resp.Header.Get("Location"), env.session("admin"), "", nil)
				body = readBody(t, page)
			}
			if !strings.Contains(body, tc.says) {
				t.Errorf("page does not say %q:\n%s", tc.says, body)
			}
			audit := 0
			if tc.auditType != "" {
				audit = 1
				ev := env.eventsOf(model.CategoryAuditLog, tc.auditType)
				if len(ev) != 1 || ev[0].Actor.ID != "admin" || ev[0].Actor.IP != "127.0.0.1" || ev[0].Entity.Type != "USER" {
					t.Errorf("AUDIT_LOG %s events: %+v", tc.auditType, ev)
				}
				if sys := env.eventsOf(model.CategorySystem, tc.auditType); len(sys) != 1 || detailString(&sys[0], "section") != "settings" {
					t.Errorf("SYSTEM entry of the change: %+v", sys)
				}
			}
			if n := len(env.eventsOf(model.CategoryAuditLog, "")); n != audit {
				t.Errorf("%d AUDIT_LOG events, want %d", n, audit)
			}
			if tc.check != nil {
				tc.check(t, env)
			}
			// Resetting a user's password ends that user's sessions; other
			// changes leave them alone.
			got := env.do(http.MethodGet, "/events", victim, "", nil).StatusCode
			if want := map[bool]int{true: 401, false: 200}[tc.name == "ResetPassword"]; got != want {
				t.Errorf("auditor's session answered %d, want %d", got, want)
			}
		})
	}
}

func TestTokenShownOnceAndRevoked(t *testing.T) {
	env := newTestEnv(t)
	admin := env.session("admin")
	resp := env.do(http.MethodPost, "/settings/tokens", admin, url.Values{"user": {"operator"}, "name": {"siem"}, "scope": {"read"}}.Encode(), nil)
	body := readBody(t, resp)
	secret := regexp.MustCompile(`value="(vgl_[A-Za-z0-9_-]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusCreated || secret == nil {
		t.Fatalf("token creation: %d\n%s", resp.StatusCode, body)
	}
	api := func() int {
		req, _ := http.NewRequest(http.MethodGet, env.url+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+secret[1])
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if st := api(); st != 200 {
		t.Fatalf("the new token answered %d", st)
	}
	page := readBody(t, env.do(http.MethodGet, "/settings", admin, "", nil))
	if strings.Contains(page, secret[1]) || !strings.Contains(page, "siem") {
		t.Errorf("the settings page shows the secret again or lacks the token")
	}
	if ev := env.eventsOf(model.CategoryAuditLog, "TOKEN_CREATED"); len(ev) != 1 || strings.Contains(string(ev[0].Details), secret[1]) {
		t.Errorf("TOKEN_CREATED audit: %+v", ev)
	}
	tokens, _ := env.st.ListTokens(context.Background())
	resp = env.do(http.MethodPost, "/settings/tokens/"+strconvI(tokens[0].ID)+"/revoke", admin, "", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if st := api(); st != http.StatusUnauthorized {
		t.Errorf("a revoked token answered %d", st)
	}
	if ev := env.eventsOf(model.CategoryAuditLog, "TOKEN_REVOKED"); len(ev) != 1 {
		t.Errorf("TOKEN_REVOKED audit: %+v", ev)
	}
	// An auditor sees the settings but no forms.
	page = readBody(t, env.do(http.MethodGet, "/settings", env.session("auditor"), "", nil))
	if !strings.Contains(page, "siem") || strings.Contains(page, "<form method=\"post\" action=\"/settings") {
		t.Errorf("auditor's settings page: forms shown or tokens missing")
	}
}

func TestSystemLogRecordsConsoleActions(t *testing.T) {
	env := newTestEnv(t)
	resp := env.login("admin", password("admin"), "")
	cookie := cookieOf(resp).Value
	env.do(http.MethodGet, "/audit", cookie, "", nil)
	readBody(t, env.do(http.MethodGet, "/api/v1/events.csv?category=AUTH", cookie, "", nil))
	env.do(http.MethodPost, "/settings/users/viewer/role", cookie, "role=operator", nil)
	env.do(http.MethodPost, "/logout", cookie, "", nil)
	env.login("admin", "wrong-password-1", "")
	want := []struct{ typ, section string }{
		{"E_LOGIN_SUCCEEDED", "login"}, {"E_SECTION_VISITED", "audit"}, {"E_REPORT_REQUESTED", "export"},
		{"E_REPORT_GENERATED", "export"}, {"E_ROLE_CHANGED", "settings"}, {"E_LOGOUT", "logout"},
		{"E_LOGIN_FAILED", "login"},
	}
	found, err := env.st.FindEvents(context.Background(), model.EventFilter{
		Categories: []string{model.CategorySystem}, Visibility: model.VisibilityFor(env.users["admin"]),
	})
	got := found.Events
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d SYSTEM events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[len(got)-1-i]
		if e.Type != w.typ || detailString(&e, "section") != w.section || e.Actor.ID != "admin" || e.Actor.IP != "127.0.0.1" || e.Message == "" {
			t.Errorf("SYSTEM event %d: %s section %q by %s from %s (%q), want %s in %s",
				i, e.Type, detailString(&e, "section"), e.Actor.ID, e.Actor.IP, e.Message, w.typ, w.section)
		}
	}
	auth := env.eventsOf(model.CategoryAuth, "")
	if len(auth) != 2 || auth[0].Type != "E_LOGIN_FAILED" || auth[1].Type != "E_LOGIN_SUCCEEDED" {
		t.Errorf("AUTH events: %+v", auth)
	}
}

func TestChangeOwnPassword(t *testing.T) {
	env := newTestEnv(t)
	other := env.session("viewer")
	mine := env.session("viewer")
	for _, tc := range []struct {
		name                   string
		current, next, confirm string
		want                   int
		says                   string
	}{
		{"WrongCurrent", "not-my-password", "brand-new-password", "brand-new-password", 400, "current password is wrong"},
		{"Mismatch", password("viewer"), "brand-new-password", "brand-new-passwore", 400, "differ"},
		{"TooShort", password("viewer"), "short", "short", 400, "at least 12"},
		{"Changed", password("viewer"), "brand-new-password", "brand-new-password", 303, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"current": {tc.current}, "password": {tc.next}, "confirm": {tc.confirm}}
			resp := env.do(http.MethodPost, "/account/password", mine, form.Encode(), nil)
			if body := readBody(t, resp); resp.StatusCode != tc.want || !strings.Contains(body, tc.says) {
				t.Fatalf("got %d, want %d saying %q:\n%s", resp.StatusCode, tc.want, tc.says, body)
			}
			if tc.want != http.StatusSeeOther {
				return
			}
			renewed := cookieOf(resp)
			if renewed == nil || renewed.Value == mine {
				t.Fatalf("no new session for this browser")
			}
			for name, c := range map[string]string{"other browser": other, "old cookie": mine} {
				if st := env.do(http.MethodGet, "/events", c, "", nil).StatusCode; st != 401 {
					t.Errorf("%s answered %d after the change, want 401", name, st)
				}
			}
			if st := env.do(http.MethodGet, "/account", renewed.Value, "", nil).StatusCode; st != 200 {
				t.Errorf("renewed session answered %d", st)
			}
			if resp := env.login("viewer", "brand-new-password", ""); resp.StatusCode != 303 {
				t.Errorf("new password does not sign in: %d", resp.StatusCode)
			}
			if ev := env.eventsOf(model.CategoryAuditLog, "E_PWDRESET_SUCCEEDED"); len(ev) != 1 || ev[0].Actor.ID != "viewer" {
				t.Errorf("audit events: %+v", ev)
			}
		})
	}
}

// TestSettingsShowsIntegrityAndSchedules: the public key, the newest
// checkpoint and the schedules are on the page, and an admin can sign a
// checkpoint there.
func TestSettingsShowsIntegrityAndSchedules(t *testing.T) {
	text, err := model.NewCheckpointKeyText("settings.example/vigil")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := model.ParseCheckpointKey(text)
	env := newTestEnv(t, withConfig(Config{CheckpointKey: key, Schedules: []Schedule{{Check: "checkpoint", Spec: "@every 10m", About: "signs"}}}))
	admin := env.session("admin")
	body := readBody(t, env.do(http.MethodGet, "/settings", admin, "", nil))
	for _, want := range []string{strings.ReplaceAll(key.PublicKey(), "+", "&#43;"), "none yet", "@every 10m", "Sign a checkpoint now"} {
		if !strings.Contains(body, want) {
			t.Errorf("Settings lacks %q", want)
		}
	}
	resp := env.do(http.MethodPost, "/settings/checkpoint", admin, "", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign: %d %s", resp.StatusCode, readBody(t, resp))
	}
	body = readBody(t, env.do(http.MethodGet, resp.Header.Get("Location"), admin, "", nil))
	cp, err := env.st.LatestCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "Checkpoint signed") || !strings.Contains(body, hex.EncodeToString(cp.Root)) {
		t.Errorf("after signing the page does not show the checkpoint:\n%s", body)
	}
	if ev := env.eventsOf(model.CategorySystem, "E_CHECKPOINT_SIGNED"); len(ev) != 1 || ev[0].Actor.ID != "admin" {
		t.Errorf("signing not recorded: %+v", ev)
	}
}
