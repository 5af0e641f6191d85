package handlers

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"vigil/model"
)

// Who may call a route through a console session.
var (
	public     = []string{"public"}
	everyone   = model.Roles
	nobody     = []string{}
	readers    = []string{model.RoleAdmin, model.RoleAuditor, model.RoleOperator}
	adminOnly  = []string{model.RoleAdmin}
	adminAudit = []string{model.RoleAdmin, model.RoleAuditor}
	changers   = []string{model.RoleAdmin, model.RoleOperator}
)

// routeAccess lists every route and the roles whose sessions may call it.
// Deny by default: a route missing here fails TestRouteAccess, so a new
// route cannot land without saying who may use it.
var routeAccess = map[string][]string{
	"GET /healthz":                               public,
	"GET /static/*":                              public,
	"GET /login":                                 public,
	"POST /login":                                public,
	"POST /api/v1/events":                        nobody, // ingest tokens only
	"GET /api/v1/events":                         everyone,
	"GET /api/v1/events.csv":                     everyone,
	"GET /api/v1/events/:id":                     everyone,
	"GET /api/v1/audit/verify":                   readers,
	"GET /api/v1/events/:id/proof":               everyone,
	"GET /api/v1/audit/checkpoint":               readers,
	"POST /api/v1/audit/checkpoint":              changers,
	"GET /api/v1/audit/consistency":              readers,
	"GET /metrics":                               everyone,
	"POST /logout":                               everyone,
	"GET /":                                      everyone,
	"GET /events":                                everyone,
	"GET /audit":                                 readers,
	"GET /system":                                readers,
	"GET /events/:id":                            everyone,
	"GET /settings":                              adminAudit,
	"GET /alerts":                                everyone,
	"GET /jobs":                                  everyone,
	"GET /jobs/:id":                              everyone,
	"GET /certificates":                          everyone,
	"GET /certificates/:id":                      everyone,
	"GET /endpoints/:id":                         everyone,
	"GET /agents":                                everyone,
	"POST /alerts/:id/read":                      changers,
	"POST /alerts/read-all":                      changers,
	"POST /jobs":                                 changers,
	"POST /certificates":                         changers,
	"POST /endpoints":                            changers,
	"GET /api/v1/alerts":                         everyone,
	"GET /api/v1/jobs":                           everyone,
	"GET /api/v1/jobs/:id":                       everyone,
	"GET /api/v1/certificates":                   everyone,
	"GET /api/v1/certificates/:id":               everyone,
	"GET /api/v1/endpoints":                      everyone,
	"GET /api/v1/agents":                         everyone,
	"POST /api/v1/alerts/:id/read":               changers,
	"POST /api/v1/alerts/read-all":               changers,
	"POST /api/v1/jobs":                          changers,
	"POST /api/v1/certificates":                  changers,
	"POST /api/v1/endpoints":                     changers,
	"POST /api/v1/jobs/claim":                    nobody, // agent tokens only
	"POST /api/v1/jobs/:id/result":               nobody, // agent tokens only
	"GET /account":                               everyone,
	"POST /account/password":                     everyone,
	"POST /settings/users":                       adminOnly,
	"POST /settings/users/:name/role":            adminOnly,
	"POST /settings/users/:name/disabled":        adminOnly,
	"POST /settings/users/:name/password":        adminOnly,
	"POST /settings/tokens":                      adminOnly,
	"POST /settings/tokens/:id/revoke":           adminOnly,
	"POST /settings/checkpoint":                  adminOnly,
	"GET /api/v1/retention/rules":                adminOnly,
	"POST /api/v1/retention/rules":               adminOnly,
	"DELETE /api/v1/retention/rules/:id":         adminOnly,
	"GET /api/v1/retention/holds":                adminOnly,
	"POST /api/v1/retention/holds":               adminOnly,
	"DELETE /api/v1/retention/holds/:id":         adminOnly,
	"POST /settings/retention/rules":             adminOnly,
	"POST /settings/retention/rules/:id/delete":  adminOnly,
	"POST /settings/retention/holds":             adminOnly,
	"POST /settings/retention/holds/:id/release": adminOnly,
	"POST /certificates/:id/expiry-days":         changers,
	"POST /endpoints/:id/expiry-days":            changers,
	"PUT /api/v1/certificates/:id/expiry-days":   changers,
	"PUT /api/v1/endpoints/:id/expiry-days":      changers,
	"GET /api/v1/events/export":                  everyone,
}

// concretePath fills a route's parameters with values that exist (or are
// harmlessly absent) in the test database.
func concretePath(p string) string {
	p = strings.ReplaceAll(p, ":id", "1")
	p = strings.ReplaceAll(p, ":name", "nobody-here")
	p = strings.ReplaceAll(p, "/static/*", "/static/css/vigil.css")
	return p
}

// TestRouteAccess calls every registered route as every role (through a
// fresh session each time) and anonymously, and checks the answer against
// routeAccess: allowed callers are not refused (401/403), others get 403,
// and anonymous callers of a non-public route get 401.
func TestRouteAccess(t *testing.T) {
	env := newTestEnv(t)
	env.appendEvents(`{"type":"CERT_USED","outcome":"ALLOWED","message":"route table event"}`)
	seen := map[string]bool{}
	for _, r := range env.echo.Routes() {
		if r.Method == "echo_route_not_found" {
			continue
		}
		key := r.Method + " " + r.Path
		if seen[key] {
			continue
		}
		seen[key] = true
		allowed, ok := routeAccess[key]
		if !ok {
			t.Errorf("route %s has no entry in routeAccess: say who may call it", key)
			continue
		}
		isPublic := slices.Equal(allowed, public)
		for _, caller := range append([]string{"anonymous"}, model.Roles...) {
			t.Run(strings.NewReplacer("/", "_", " ", "_").Replace(key)+"/"+caller, func(t *testing.T) {
				cookie := ""
				if caller != "anonymous" {
					cookie = env.session(caller)
				}
				resp := env.do(r.Method, concretePath(r.Path), cookie, "", nil)
				got := resp.StatusCode
				refused := got == http.StatusUnauthorized || got == http.StatusForbidden
				switch {
				case isPublic:
					if refused {
						t.Errorf("public route answered %d", got)
					}
				case caller == "anonymous":
					if got != http.StatusUnauthorized {
						t.Errorf("anonymous call answered %d, want 401", got)
					}
				case slices.Contains(allowed, caller):
					if refused {
						t.Errorf("%s may call it but got %d: %s", caller, got, readBody(t, resp))
					}
				default:
					if got != http.StatusForbidden {
						t.Errorf("%s may not call it but got %d, want 403", caller, got)
					}
				}
			})
		}
	}
	for key := range routeAccess {
		if !seen[key] {
			t.Errorf("routeAccess lists %s, which is not a route", key)
		}
	}
}

// TestAPIDocCoversEveryRoute fails when a route has no line in
// docs/api.md ("METHOD /path", with {id} for :id).
func TestAPIDocCoversEveryRoute(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t)
	seen := map[string]bool{}
	for _, r := range env.echo.Routes() {
		if r.Method == "echo_route_not_found" {
			continue
		}
		p := regexp.MustCompile(`:([a-z]+)`).ReplaceAllString(r.Path, "{$1}")
		line := "`" + r.Method + " " + p + "`"
		if seen[line] {
			continue
		}
		seen[line] = true
		if !strings.Contains(string(doc), line) {
			t.Errorf("docs/api.md does not document %s", line)
		}
	}
	if len(seen) < 40 {
		t.Fatalf("only %d routes found", len(seen))
	}
}

// TestBadPathIDs: every route with an :id refuses one that is not a
// positive integer with 400, naming what the id is of.
func TestBadPathIDs(t *testing.T) {
	env := newTestEnv(t)
	admin := env.session("admin")
	for _, tc := range []struct{ name, method, path, want string }{
		{"Event", "GET", "/api/v1/events/x", "event id must be a positive integer"},
		{"EventZero", "GET", "/api/v1/events/0", "event id must be a positive integer"},
		{"Proof", "GET", "/api/v1/events/-1/proof", "event id must be a positive integer"},
		{"Detail", "GET", "/events/1.5", "event id must be a positive integer"},
		{"RevokeToken", "POST", "/settings/tokens/x/revoke", "token id must be a positive integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.do(tc.method, tc.path, admin, "", nil)
			if body := readBody(t, resp); resp.StatusCode != 400 || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want 400 %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}
