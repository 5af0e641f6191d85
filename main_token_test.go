package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTokenCreateForAgent creates agent tokens as an operator would: scope
// agent needs --agent, other scopes refuse it, and the token then claims
// jobs only as its agent.
func TestTokenCreateForAgent(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	url, stop := serve(t, dir)
	defer stop()
	create := func(args ...string) (int, string, string) {
		return vigil(t, "", append([]string{"token", "create", "--data", dir, "--user", "admin"}, args...)...)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"AgentScopeWithoutAgent", []string{"--name", "a", "--scope", "agent"}, 2, "--agent ID"},
		{"AgentForReadScope", []string{"--name", "r", "--scope", "read", "--agent", "web-01"}, 2, "--agent"},
		{"AgentForDefaultScope", []string{"--name", "i", "--agent", "web-01"}, 2, "--agent"},
		{"AgentIDTooLong", []string{"--name", "l", "--scope", "agent", "--agent", strings.Repeat("x", 300)}, 1, "agent id"},
		{"AgentIDWithSpaces", []string{"--name", "s", "--scope", "agent", "--agent", "web 01"}, 1, "agent id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := create(c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) || out != "" {
				t.Fatalf("exit %d, out %q, err %q; want exit %d mentioning %q", code, out, errOut, c.code, c.want)
			}
		})
	}
	code, web, errOut := create("--name", "web-01", "--scope", "agent", "--agent", "web-01")
	if code != 0 || !strings.HasPrefix(web, "vgl_") {
		t.Fatalf("token create --agent web-01: %d %q %q", code, web, errOut)
	}
	web = strings.TrimSpace(web)
	_, manage, _ := create("--name", "m", "--scope", "manage")
	manage = strings.TrimSpace(manage)
	if code, body := request(t, "POST", url+"/api/v1/jobs", manage, `{"type":"CA_REFRESH","ca_id":"ca-1","agent_id":"db-07"}`); code != 201 {
		t.Fatalf("queue a job for db-07: %d %s", code, body)
	}
	if code, body := request(t, "POST", url+"/api/v1/jobs/claim", web, `{"agent_id":"db-07"}`); code != 403 {
		t.Errorf("web-01's token claims as db-07: %d %s, want 403", code, body)
	}
	if code, body := request(t, "POST", url+"/api/v1/jobs/claim", web, `{"agent_id":"web-01"}`); code != 204 {
		t.Errorf("web-01's token claims as web-01: %d %s, want 204", code, body)
	}
	_, read, _ := create("--name", "r", "--scope", "read")
	code, body := request(t, "GET", url+"/api/v1/events?type=TOKEN_CREATED&q=web-01", strings.TrimSpace(read), "")
	var page struct {
		Events []struct {
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil || len(page.Events) != 1 ||
		page.Events[0].Details["agent_id"] != "web-01" || !strings.Contains(page.Events[0].Message, "bound to agent web-01") {
		t.Errorf("TOKEN_CREATED audit of the agent token: %d %s", code, body)
	}
}
