package handlers

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/fixture"
	"vigil/internal/sqlitelock"
	"vigil/model"
	"vigil/store"
)

// failWrites makes every statement op ("INSERT", "UPDATE") on table of the
// database beside st fail the way a full disk fails it, until the returned
// function is called (or the test ends).
func failWrites(t *testing.T, st *store.Store, op, table string) (restore func()) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+st.Path()+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("test_fail_%s_%s", op, table)
	if _, err := db.Exec(fmt.Sprintf(`CREATE TRIGGER %s BEFORE %s ON %s BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END`,
		name, op, table)); err != nil {
		t.Fatal(err)
	}
	var once atomic.Bool
	restore = func() {
		if once.CompareAndSwap(false, true) {
			if _, err := db.Exec(`DROP TRIGGER ` + name); err != nil {
				t.Error(err)
			}
			db.Close()
		}
	}
	t.Cleanup(restore)
	return restore
}

// failStorage makes Vigil see its storage failing: an event write fails
// (and is recorded as an outage), then the disk has room again, which
// Vigil learns only from its next successful write.
func failStorage(t *testing.T, env *testEnv) {
	t.Helper()
	restore := failWrites(t, env.st, "INSERT", "events")
	e := model.Event{Type: "PROBE", Message: "probe", Source: model.SourceHTTP}
	if err := e.Normalize(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := env.st.AppendEvents(context.Background(), []model.Event{e}); err == nil {
		t.Fatal("an event write succeeded on failing storage")
	}
	restore()
	if _, down := env.st.Unavailable(); !down {
		t.Fatal("the store does not report its storage failing")
	}
}

// userChange is a change of a user, token or password made in the console,
// and how to see whether it was made.
type userChange struct {
	name, path, as string
	form           url.Values
	auditType      string
	made           func(t *testing.T, env *testEnv) bool
}

func userChanges() []userChange {
	ctx := context.Background()
	authenticates := func(name, pw string) func(*testing.T, *testEnv) bool {
		return func(t *testing.T, env *testEnv) bool {
			_, err := env.st.Authenticate(ctx, name, pw)
			return err == nil
		}
	}
	user := func(t *testing.T, env *testEnv, name string) model.User {
		u, err := env.st.UserByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tokenNamed := func(t *testing.T, env *testEnv, name string) (model.Token, bool) {
		tokens, err := env.st.ListTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(tokens, func(tk model.Token) bool { return tk.Name == name })
		if i < 0 {
			return model.Token{}, false
		}
		return tokens[i], true
	}
	return []userChange{
		{"CreateUser", "/settings/users", "admin", url.Values{"username": {"erin"}, "role": {"operator"}, "password": {"erin-password-1"}},
			"USER_CREATED", func(t *testing.T, env *testEnv) bool {
				_, err := env.st.UserByName(ctx, "erin")
				return err == nil
			}},
		{"ChangeRole", "/settings/users/viewer/role", "admin", url.Values{"role": {"admin"}},
			"E_ROLE_CHANGED", func(t *testing.T, env *testEnv) bool { return user(t, env, "viewer").Role == model.RoleAdmin }},
		{"DisableUser", "/settings/users/operator/disabled", "admin", url.Values{"disabled": {"1"}},
			"E_ACCOUNT_LOCKED", func(t *testing.T, env *testEnv) bool { return user(t, env, "operator").Disabled }},
		{"ResetPassword", "/settings/users/auditor/password", "admin", url.Values{"password": {"fresh-password-99"}},
			"E_PWDRESET_SUCCEEDED", authenticates("auditor", "fresh-password-99")},
		{"ChangeOwnPassword", "/account/password", "viewer",
			url.Values{"current": {password("viewer")}, "password": {"brand-new-password"}, "confirm": {"brand-new-password"}},
			"E_PWDRESET_SUCCEEDED", authenticates("viewer", "brand-new-password")},
		{"CreateToken", "/settings/tokens", "admin", url.Values{"user": {"operator"}, "name": {"siem"}, "scope": {"read"}},
			"TOKEN_CREATED", func(t *testing.T, env *testEnv) bool {
				_, ok := tokenNamed(t, env, "siem")
				return ok
			}},
		{"RevokeToken", "/settings/tokens/1/revoke", "admin", nil,
			"TOKEN_REVOKED", func(t *testing.T, env *testEnv) bool {
				tk, ok := tokenNamed(t, env, "to-revoke")
				return !ok || tk.Revoked
			}},
	}
}

// newChangeEnv is a console with a token to revoke (id 1) and a
// checkpoint key.
func newChangeEnv(t *testing.T) *testEnv {
	env := newTestEnv(t, withConfig(Config{CheckpointKey: fixture.CheckpointKey(t, "changes.example/vigil")}))
	fixture.Token(t, env.st.Path(), "operator", "to-revoke", model.ScopeRead) // id 1
	return env
}

// TestChangeAndAuditCommitTogether: a change of a user, a token or a
// password is stored with its audit record or not at all. When the audit
// record cannot be written, the change is not made and the caller is told
// to retry (503, Retry-After).
func TestChangeAndAuditCommitTogether(t *testing.T) {
	for _, tc := range userChanges() {
		t.Run(tc.name, func(t *testing.T) {
			env := newChangeEnv(t)
			cookie := env.session(tc.as)
			failWrites(t, env.st, "INSERT", "events")
			resp := env.do(http.MethodPost, tc.path, cookie, tc.form.Encode(), nil)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("got %d (Retry-After %q), want 503 with Retry-After:\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			if tc.made(t, env) {
				t.Errorf("the change was made without its audit record")
			}
			if ev := env.eventsOf(model.CategoryAuditLog, tc.auditType); len(ev) != 0 {
				t.Errorf("audit record of a change not made: %+v", ev)
			}
		})
	}
}

// TestChangesRefusedWhileStorageFails: while Vigil's storage is failing,
// every change is refused with 503 and Retry-After before anything is
// changed: users, tokens, passwords, checkpoints, sign-in and sign-out.
// Ingest is still tried (it answers for itself), and its first success
// ends the refusal.
func TestChangesRefusedWhileStorageFails(t *testing.T) {
	env := newChangeEnv(t)
	ctx := context.Background()
	admin, viewer := env.session("admin"), env.session("viewer")
	ingest := env.token("operator", model.ScopeIngest)
	sessions := func() int {
		n, err := env.st.CountSessions(ctx, env.users["admin"].ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	failStorage(t, env)
	before := sessions()
	cookies := map[string]string{"admin": admin, "viewer": viewer}
	for _, tc := range userChanges() {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.do(http.MethodPost, tc.path, cookies[tc.as], tc.form.Encode(), nil)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("got %d (Retry-After %q), want 503 with Retry-After:\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			if tc.made(t, env) {
				t.Errorf("the change was made while storage fails")
			}
		})
	}
	for _, tc := range []struct{ name, path, cookie, form string }{
		{"SignCheckpoint", "/settings/checkpoint", admin, ""},
		{"SignIn", "/login", "", url.Values{"username": {"admin"}, "password": {password("admin")}}.Encode()},
		{"ReadAllAlerts", "/alerts/read-all", admin, ""},
		{"SignOut", "/logout", admin, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.do(http.MethodPost, tc.path, tc.cookie, tc.form, nil)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || cookieOf(resp) != nil {
				t.Errorf("got %d (Retry-After %q, cookie %v), want 503 with Retry-After and no cookie:\n%s",
					resp.StatusCode, resp.Header.Get("Retry-After"), cookieOf(resp), body)
			}
		})
	}
	if cp, err := env.st.LatestCheckpoint(ctx); model.ErrorCode(err) != model.ENOTFOUND {
		t.Errorf("a checkpoint was signed while storage fails: %+v %v", cp, err)
	}
	if n := sessions(); n != before {
		t.Errorf("admin has %d sessions, had %d: sign-in or sign-out changed them while storage failed", n, before)
	}
	if st := env.do(http.MethodGet, "/settings", admin, "", nil).StatusCode; st != http.StatusServiceUnavailable && st != http.StatusOK {
		t.Errorf("reading Settings while storage fails: %d", st)
	}

	// Ingest is tried: storage works again, so the batch is stored and
	// changes are accepted from then on.
	code, body := postJSON(t, env.url+"/api/v1/events", ingest, `{"type":"CERT_USED","message":"disk has room again"}`)
	if code != http.StatusAccepted {
		t.Fatalf("ingest after storage recovered: %d %s", code, body)
	}
	if _, down := env.st.Unavailable(); down {
		t.Fatal("a successful write did not end the outage")
	}
	resp := env.do(http.MethodPost, "/settings/users", admin, userChanges()[0].form.Encode(), nil)
	if resp.StatusCode != http.StatusSeeOther || len(env.eventsOf(model.CategoryAuditLog, "USER_CREATED")) != 1 {
		t.Errorf("a change once storage works: %d, %d USER_CREATED records", resp.StatusCode, len(env.eventsOf(model.CategoryAuditLog, "USER_CREATED")))
	}
}

// postJSON posts body with a bearer token and returns the status and body.
func postJSON(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, readBody(t, resp)
}

// TestFailedTouchServesRequest: a token's or a session's last use that
// cannot be written (full disk) is logged; the request is served.
func TestFailedTouchServesRequest(t *testing.T) {
	t.Run("Token", func(t *testing.T) {
		env := newTestEnv(t)
		secret := env.token("operator", model.ScopeRead)
		failWrites(t, env.st, "UPDATE", "tokens")
		code, body := getWithToken(t, env.url+"/api/v1/events", secret)
		if code != http.StatusOK {
			t.Fatalf("a token whose last use cannot be written: %d %s", code, body)
		}
	})
	t.Run("Session", func(t *testing.T) {
		var offset atomic.Int64
		clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		env := newTestEnv(t, withClock(clock))
		cookie := env.session("operator")
		offset.Store(int64(5 * time.Minute)) // the session's last use is due to be written
		failWrites(t, env.st, "UPDATE", "sessions")
		if resp := env.do(http.MethodGet, "/api/v1/events", cookie, "", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("a session whose last use cannot be written: %d %s", resp.StatusCode, readBody(t, resp))
		}
	})
}

func getWithToken(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, readBody(t, resp)
}

// TestSignInOnLockedDatabase: when the session cannot be stored (another
// process holds the database's write lock past the busy timeout), the
// sign-in is refused for now (503, Retry-After), not failed with 500, and
// no cookie is set.
func TestSignInOnLockedDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out SQLite's 10 s busy timeout")
	}
	env := newTestEnv(t)
	sqlitelock.Hold(t, env.st.Path())
	resp := env.login("admin", password("admin"), "")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || cookieOf(resp) != nil {
		t.Errorf("got %d (Retry-After %q, cookie %v), want 503 with Retry-After and no cookie:\n%s",
			resp.StatusCode, resp.Header.Get("Retry-After"), cookieOf(resp), body)
	}
}

// TestCheckpointSignedWithItsRecord: a checkpoint signed in Settings is
// stored with its System log entry or not at all.
func TestCheckpointSignedWithItsRecord(t *testing.T) {
	key := fixture.CheckpointKey(t, "settings.example/vigil")
	env := newTestEnv(t, withConfig(Config{CheckpointKey: key}))
	admin := env.session("admin")
	env.appendEvents(`{"type":"CERT_USED","message":"before"}`)
	restore := failWrites(t, env.st, "INSERT", "events")
	resp := env.do(http.MethodPost, "/settings/checkpoint", admin, "", nil)
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("got %d (Retry-After %q), want 503 with Retry-After:\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if cp, err := env.st.LatestCheckpoint(context.Background()); model.ErrorCode(err) != model.ENOTFOUND {
		t.Errorf("a checkpoint was stored without its record: %+v %v", cp, err)
	}
	restore()
	env.appendEvents(`{"type":"CERT_USED","message":"storage works again"}`)
	if resp := env.do(http.MethodPost, "/settings/checkpoint", admin, "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signing once storage works: %d %s", resp.StatusCode, readBody(t, resp))
	}
	cp, err := env.st.LatestCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	head, err := env.st.TreeHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sys := env.eventsOf(model.CategorySystem, "E_CHECKPOINT_SIGNED")
	// The checkpoint covers the log up to just before its own record.
	if len(sys) != 1 || cp.Size != head.Size-1 || uint64(sys[0].ID) != head.Size {
		t.Errorf("checkpoint of %d events, log of %d, records %+v", cp.Size, head.Size, sys)
	}
	if rep, err := env.st.VerifyChain(context.Background(), store.VerifyOptions{PublicKey: key.PublicKey()}); err != nil || !rep.OK {
		t.Errorf("verify after signing: %+v %v", rep, err)
	}
}
