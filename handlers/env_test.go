package handlers

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"vigil/internal/fixture"
	"vigil/model"
	"vigil/store"
	"vigil/ui"
)

// testEnv is a real Vigil HTTP server on 127.0.0.1 over a real database in
// a temporary directory, with one user per role, each named after its
// role. Console tests sign in as them (session); API tests call with their
// tokens (api, by "role/scope").
type testEnv struct {
	t     testing.TB
	st    *store.Store
	srv   *Server
	echo  *echo.Echo // the handler being served
	url   string
	users map[string]model.User // by role; each user is named after its role

	mu   sync.Mutex
	keys map[string]string // API tokens by "role/scope", made on first use
}

// password returns the test password of the user of role.
func password(role string) string { return "pass-" + role + "-123456" }

// envOption sets up a testEnv differently from the default: a server with
// a zero Config (but for UI and Version) over a store with default
// options.
type envOption func(*envSetup)

type envSetup struct {
	cfg Config
	now func() time.Time
}

// withConfig serves with cfg; its UI and Version are filled in.
func withConfig(cfg Config) envOption { return func(s *envSetup) { s.cfg = cfg } }

// withClock gives the store and the handlers one clock, now.
func withClock(now func() time.Time) envOption { return func(s *envSetup) { s.now = now } }

// newTestEnv starts a test server, the one way every handlers test and
// benchmark gets one.
func newTestEnv(t testing.TB, options ...envOption) *testEnv {
	t.Helper()
	var setup envSetup
	for _, o := range options {
		o(&setup)
	}
	cfg := setup.cfg
	cfg.UI = ui.FS
	cfg.Version = "test"
	reg := prometheus.NewRegistry()
	opts := store.Options{Registerer: reg}
	if setup.now != nil {
		cfg.Now, opts.Now = setup.now, setup.now
	}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "vigil.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := New(cfg, st, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := srv.Handler()
	hs := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	env := &testEnv{t: t, st: st, srv: srv, echo: e, url: "http://" + ln.Addr().String(),
		users: map[string]model.User{}, keys: map[string]string{}}
	for _, role := range model.Roles {
		env.users[role] = fixture.User(t, st.Path(), role, role, password(role))
	}
	return env
}

// session starts a console session for the user of role and returns its
// cookie value.
func (env *testEnv) session(role string) string {
	env.t.Helper()
	id, err := env.st.CreateSession(context.Background(), env.users[role].ID, "127.0.0.1", "test", time.Hour)
	if err != nil {
		env.t.Fatal(err)
	}
	return id
}

// token creates an API token of scope for the user of role; an agent
// token acts as the agent named after the role.
func (env *testEnv) token(role, scope string) string {
	env.t.Helper()
	agent := ""
	if scope == model.ScopeAgent {
		agent = role
	}
	return fixture.AgentToken(env.t, env.st.Path(), role, role+"-"+scope+"-"+model.NewSecret(4), scope, agent)
}

// appendEvents stores events given as JSON objects, as if posted; SYSTEM
// ones as Vigil's own.
func (env *testEnv) appendEvents(objs ...string) []int64 {
	env.t.Helper()
	events := make([]model.Event, len(objs))
	for i, js := range objs {
		now := time.Now()
		e, err := model.DecodeEvent([]byte(js), now)
		if err != nil && strings.Contains(js, `"category":"SYSTEM"`) {
			// Console activity is Vigil's own record (source internal), the
			// only kind of event that may be SYSTEM.
			if e, err = model.DecodeEvent([]byte(strings.Replace(js, `"category":"SYSTEM"`, `"category":"USAGE"`, 1)), now); err == nil {
				e.Source, e.Category = model.SourceInternal, model.CategorySystem
				err = e.Normalize(now)
			}
		}
		if err != nil {
			env.t.Fatalf("decode %s: %v", js, err)
		}
		events[i] = e
	}
	res, err := env.st.AppendEvents(context.Background(), events)
	if err != nil {
		env.t.Fatal(err)
	}
	return res.IDs
}

// do sends a request without following redirects; cookie, if set, is the
// session cookie.
func (env *testEnv) do(method, path, cookie string, body string, header http.Header) *http.Response {
	env.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, env.url+path, r)
	if err != nil {
		env.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		env.t.Fatal(err)
	}
	env.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
