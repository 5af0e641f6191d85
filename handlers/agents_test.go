package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"vigil/internal/fixture"
	"vigil/model"
)

// agentEnv is a test server whose heartbeats are collected as in serve.
func agentEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnv(t, withConfig(Config{AgentOfflineAfter: 10 * time.Minute}))
}

// agentToken creates, through the Settings form, an agent token of the
// operator bound to agent and returns its secret.
func (env *testEnv) agentToken(agent string) string {
	env.t.Helper()
	name := "agent-" + agent
	resp := env.do(http.MethodPost, "/settings/tokens", env.session("admin"),
		url.Values{"user": {"operator"}, "name": {name}, "scope": {"agent"}, "agent_id": {agent}}.Encode(), nil)
	body := readBody(env.t, resp)
	secret := regexp.MustCompile(`value="(vgl_[A-Za-z0-9_-]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusCreated || secret == nil {
		env.t.Fatalf("creating the token of %s: %d\n%s", agent, resp.StatusCode, body)
	}
	return secret[1]
}

// unboundAgentToken returns an agent token as the upgrade leaves one
// created before tokens were bound to an agent: with no agent id.
func (env *testEnv) unboundAgentToken() string {
	env.t.Helper()
	return fixture.AgentToken(env.t, env.st.Path(), "operator", "legacy-agent", model.ScopeAgent, "")
}

// call sends an API request with a bearer token and returns the status
// and body.
func (env *testEnv) call(method, path, token, body string) (int, string) {
	env.t.Helper()
	resp := env.do(method, path, "", body, http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}})
	return resp.StatusCode, readBody(env.t, resp)
}

// lastSeen returns the last heartbeat of agent as GET /api/v1/agents
// lists it (zero when it is not listed).
func (env *testEnv) lastSeen(token, agent string) time.Time {
	env.t.Helper()
	status, body := env.call(http.MethodGet, "/api/v1/agents", token, "")
	var list struct {
		Agents []model.Agent `json:"agents"`
	}
	if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil {
		env.t.Fatalf("agents: %d %s", status, body)
	}
	for _, a := range list.Agents {
		if a.ID == agent {
			return a.LastSeen
		}
	}
	return time.Time{}
}

// TestAgentTokenActsOnlyAsItsAgent checks that an agent token claims,
// reports and heartbeats as the agent it was created for, and as no other.
func TestAgentTokenActsOnlyAsItsAgent(t *testing.T) {
	env := agentEnv(t)
	web, db := env.agentToken("web-01"), env.agentToken("db-07")
	manage, read := env.token("operator", "manage"), env.token("viewer", "read")
	unbound := env.unboundAgentToken()
	ingest := env.token("operator", "ingest")

	var job model.Job
	status, body := env.call(http.MethodPost, "/api/v1/jobs", manage, `{"type":"CA_REFRESH","ca_id":"ca-1","agent_id":"db-07"}`)
	if err := json.Unmarshal([]byte(body), &job); status != http.StatusCreated || err != nil {
		t.Fatalf("queue a job for db-07: %d %s", status, body)
	}
	jobPath := fmt.Sprintf("/api/v1/jobs/%d", job.ID)
	jobStatus := func() string {
		j, err := env.st.JobByID(context.Background(), job.ID)
		if err != nil {
			t.Fatal(err)
		}
		return j.Status
	}
	if status, body := env.call(http.MethodPost, "/api/v1/events", db, `{"agent_id":"db-07","message":"db-07 alive"}`); status != http.StatusAccepted {
		t.Fatalf("db-07 heartbeat: %d %s", status, body)
	}
	if env.lastSeen(read, "db-07").IsZero() {
		t.Fatal("db-07 not listed after its heartbeat")
	}

	t.Run("ClaimForAnotherAgent", func(t *testing.T) {
		status, body := env.call(http.MethodPost, "/api/v1/jobs/claim", web, `{"agent_id":"db-07"}`)
		if status != http.StatusForbidden || !strings.Contains(body, "web-01") {
			t.Errorf("web-01's token claiming db-07's job: %d %s, want 403", status, body)
		}
		if s := jobStatus(); s != model.JobQueued {
			t.Errorf("job is %s after a refused claim", s)
		}
	})
	t.Run("ClaimAsItself", func(t *testing.T) {
		if status, body := env.call(http.MethodPost, "/api/v1/jobs/claim", web, ``); status != http.StatusNoContent {
			t.Errorf("web-01 claims with nothing queued for it: %d %s, want 204", status, body)
		}
	})
	t.Run("UnboundTokenClaims", func(t *testing.T) {
		status, body := env.call(http.MethodPost, "/api/v1/jobs/claim", unbound, `{"agent_id":"db-07"}`)
		if status != http.StatusForbidden || !strings.Contains(body, "--agent") {
			t.Errorf("an agent token bound to no agent claims: %d %s, want 403", status, body)
		}
	})
	t.Run("ClaimedByItsAgent", func(t *testing.T) {
		var claimed model.Job
		status, body := env.call(http.MethodPost, "/api/v1/jobs/claim", db, ``)
		if err := json.Unmarshal([]byte(body), &claimed); status != 200 || err != nil || claimed.ID != job.ID || claimed.ClaimedBy != "db-07" {
			t.Fatalf("db-07 claims its job: %d %s", status, body)
		}
	})
	t.Run("ResultOfAnotherAgentsJob", func(t *testing.T) {
		for _, body := range []string{`{"agent_id":"db-07","status":"SUCCESS"}`, `{"status":"SUCCESS"}`} {
			if status, resp := env.call(http.MethodPost, jobPath+"/result", web, body); status != http.StatusForbidden {
				t.Errorf("web-01 reports db-07's job with %s: %d %s, want 403", body, status, resp)
			}
		}
		if status, resp := env.call(http.MethodPost, jobPath+"/result", unbound, `{"agent_id":"db-07","status":"SUCCESS"}`); status != http.StatusForbidden {
			t.Errorf("an unbound token reports db-07's job: %d %s, want 403", status, resp)
		}
		if s := jobStatus(); s != model.JobRunning {
			t.Errorf("job is %s after refused results", s)
		}
	})
	t.Run("HeartbeatAsAnotherAgent", func(t *testing.T) {
		before, dbSeen := len(env.eventsWith("db-07")), env.lastSeen(read, "db-07")
		for _, tok := range []string{web, unbound} {
			status, body := env.call(http.MethodPost, "/api/v1/events", tok,
				`[{"message":"fine"},{"agent_id":"db-07","message":"db-07 is fine, honest"}]`)
			if status != http.StatusForbidden || !strings.Contains(body, `"index":1`) {
				t.Errorf("posting as db-07: %d %s, want 403 naming item 1", status, body)
			}
		}
		if n := len(env.eventsWith("db-07")); n != before {
			t.Errorf("%d events of db-07 stored by other tokens", n-before)
		}
		if got := env.lastSeen(read, "db-07"); !got.Equal(dbSeen) {
			t.Errorf("db-07 last seen %s, want %s (its own heartbeat)", got, dbSeen)
		}
	})
	t.Run("EventWithoutAgentIsTheTokens", func(t *testing.T) {
		if status, body := env.call(http.MethodPost, "/api/v1/events", web, `{"message":"web-01 checks in"}`); status != http.StatusAccepted {
			t.Fatalf("web-01 event: %d %s", status, body)
		}
		if evs := env.eventsWith("web-01"); len(evs) != 1 || evs[0].Message != "web-01 checks in" {
			t.Errorf("events of web-01: %+v", evs)
		}
		if env.lastSeen(read, "web-01").IsZero() {
			t.Error("web-01 has no heartbeat after its event")
		}
	})
	t.Run("IngestTokenUnchanged", func(t *testing.T) {
		if status, body := env.call(http.MethodPost, "/api/v1/events", ingest, `{"agent_id":"app-3","message":"from a collector"}`); status != http.StatusAccepted {
			t.Errorf("ingest token: %d %s", status, body)
		}
	})
	t.Run("ResultByItsAgent", func(t *testing.T) {
		if status, body := env.call(http.MethodPost, jobPath+"/result", db, `{"status":"SUCCESS","output":{"ok":true}}`); status != 200 {
			t.Fatalf("db-07 reports its job: %d %s", status, body)
		}
	})
	t.Run("AuditNamesTokenUserAndAddress", func(t *testing.T) {
		for _, typ := range []string{"CA_REFRESH_STARTED", "CA_REFRESH_COMPLETED"} {
			evs := env.eventsOf(model.CategoryAuditLog, typ)
			if len(evs) != 1 {
				t.Fatalf("%s events: %+v", typ, evs)
			}
			var d map[string]any
			if err := json.Unmarshal(evs[0].Details, &d); err != nil {
				t.Fatal(err)
			}
			if tok := tokenByName(t, env, "agent-db-07"); d["token_id"] != float64(tok.ID) || d["token_name"] != "agent-db-07" || d["user"] != "operator" ||
				d["peer"] != "127.0.0.1" || evs[0].Actor.ID != "db-07" || evs[0].Actor.IP != "127.0.0.1" {
				t.Errorf("%s: actor %+v details %s", typ, evs[0].Actor, evs[0].Details)
			}
		}
	})
}

// tokenByName returns the listed token called name.
func tokenByName(t *testing.T, env *testEnv, name string) model.Token {
	t.Helper()
	tokens, err := env.st.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if tok.Name == name {
			return tok
		}
	}
	t.Fatalf("no token %s", name)
	return model.Token{}
}

// eventsWith returns the stored events naming agent.
func (env *testEnv) eventsWith(agent string) []model.Event {
	env.t.Helper()
	found, err := env.st.FindEvents(context.Background(), model.EventFilter{
		AgentID: agent, Visibility: model.VisibilityFor(env.users["admin"]),
	})
	evs := found.Events
	if err != nil {
		env.t.Fatal(err)
	}
	return evs
}

// TestSettingsCreatesAgentTokens checks the token form's agent id: needed
// for scope agent, ignored for the others, listed with each token.
func TestSettingsCreatesAgentTokens(t *testing.T) {
	env := newTestEnv(t)
	admin := env.session("admin")
	post := func(form url.Values) (int, string) {
		resp := env.do(http.MethodPost, "/settings/tokens", admin, form.Encode(), nil)
		return resp.StatusCode, readBody(t, resp)
	}
	for _, tc := range []struct {
		name, scope, agent string
		want               int
		says               string
	}{
		{"AgentScopeWithoutAgent", "agent", "", 400, "needs the agent id"},
		{"AgentIDWithSpace", "agent", "web 01", 400, "without spaces"},
		{"AgentScope", "agent", " web-01 ", 201, "as agent web-01"},
		{"ReadScopeIgnoresAgent", "read", "web-01", 201, "(read, for operator)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(url.Values{"user": {"operator"}, "name": {tc.name}, "scope": {tc.scope}, "agent_id": {tc.agent}})
			if status != tc.want || !strings.Contains(body, tc.says) {
				t.Fatalf("%d, want %d saying %q:\n%s", status, tc.want, tc.says, body)
			}
		})
	}
	if tok := tokenByName(t, env, "AgentScope"); tok.AgentID != "web-01" || tok.Scope != model.ScopeAgent {
		t.Errorf("agent token stored as %+v", tok)
	}
	if tok := tokenByName(t, env, "ReadScopeIgnoresAgent"); tok.AgentID != "" {
		t.Errorf("read token bound to agent %q", tok.AgentID)
	}
	env.unboundAgentToken()
	page := readBody(t, env.do(http.MethodGet, "/settings", admin, "", nil))
	if !regexp.MustCompile(`<td>AgentScope</td>.*\n.*<td>web-01</td>`).MatchString(page) ||
		!regexp.MustCompile(`<td>legacy-agent</td>.*\n.*no agent</span>`).MatchString(page) {
		t.Errorf("the token table does not show each token's agent:\n%s", page)
	}
	if ev := env.eventsOf(model.CategoryAuditLog, "TOKEN_CREATED"); len(ev) != 2 || !strings.Contains(string(ev[1].Details), `"agent_id":"web-01"`) {
		t.Errorf("TOKEN_CREATED audit: %+v", ev)
	}
}
