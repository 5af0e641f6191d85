package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"vigil/model"
	"vigil/store"
)

// TestRedactedEventShownAsRedacted redacts events under retention and
// reads them back through the API, the console and CSV export: each shows
// the event as redacted, none shows its former content, and the API's
// verify stays green.
func TestRedactedEventShownAsRedacted(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	old := time.Now().Add(-500 * 24 * time.Hour)
	var evs []model.Event
	for i := 1; i <= 300; i++ {
		js := fmt.Sprintf(`{"message":"secret payload %d","category":"USAGE","tenant":"acme","actor":{"id":"alice"}}`, i)
		if i == 1 {
			js = `{"message":"kept","category":"AUDIT_LOG"}`
		}
		received := time.Now()
		if i <= 290 {
			received = old
		}
		e, err := model.DecodeEvent([]byte(js), received)
		if err != nil {
			t.Fatal(err)
		}
		e.Source = model.SourceHTTP
		evs = append(evs, e)
	}
	if _, err := env.st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	res, err := env.st.ApplyRetention(ctx, store.RetentionPolicy{Cutoff: time.Now().Add(-400 * 24 * time.Hour)})
	if err != nil || res.Redacted != 255 || res.Removed != 0 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	read := http.Header{"Authorization": {"Bearer " + env.token(model.RoleAdmin, "read")}}

	resp := env.do("GET", "/api/v1/events/5", "", "", read)
	body := readBody(t, resp)
	var got map[string]any
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil || got["redacted"] != true || got["outcome"] != "REDACTED" ||
		got["category"] != "USAGE" || got["tenant"] != "acme" || strings.Contains(body, "secret payload") || strings.Contains(body, "alice") {
		t.Fatalf("API event: %d %s", resp.StatusCode, body)
	}
	cookie := env.session(model.RoleAdmin)
	for _, c := range []struct{ path, want string }{
		{"/events/5", "Content removed by retention (record 301)"},
		{"/events", `<span class="badge outcome-redacted">`},
		{"/events?tenant=acme&outcome=REDACTED", `<span class="badge outcome-redacted">`},
		{"/api/v1/events.csv", "Content removed by retention (record 301)"},
	} {
		resp := env.do("GET", c.path, cookie, "", nil)
		body := readBody(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(body, c.want) || strings.Contains(body, "secret payload 5\n") ||
			strings.Contains(body, "secret payload 5<") || strings.Contains(body, "secret payload 5,") {
			t.Errorf("%s: %d %.400s", c.path, resp.StatusCode, body)
		}
	}
	// Full text no longer finds the removed words in redacted events.
	resp = env.do("GET", "/api/v1/events?q=payload&limit=500", "", "", read)
	var list struct {
		Events []model.Event `json:"events"`
	}
	body = readBody(t, resp)
	if json.Unmarshal([]byte(body), &list) != nil || len(list.Events) != 44 {
		t.Errorf("search for removed words: %d events (want 44: 257-300, the kept ones): %.300s", len(list.Events), body)
	}
	resp = env.do("GET", "/api/v1/audit/verify", "", "", read)
	if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `"ok":true`) || !strings.Contains(body, `"redacted":255`) {
		t.Fatalf("verify: %d %s", resp.StatusCode, body)
	}
}

// TestRetentionRulesAndHoldsAPI sets rules and holds through the API as an
// admin, and is refused as anyone else; each change is in the audit trail
// with its actor, and Settings shows the rules, the holds and what each
// rule kept at the last retention run.
func TestRetentionRulesAndHoldsAPI(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t, withConfig(Config{Retention: 400 * 24 * time.Hour, RetentionAudit: 2555 * 24 * time.Hour}))
	bearer := func(role, scope string) http.Header {
		return http.Header{"Authorization": {"Bearer " + env.token(role, scope)}, "Content-Type": {"application/json"}}
	}
	admin := bearer(model.RoleAdmin, "manage")
	call := func(h http.Header, method, path, body string) (int, string) {
		t.Helper()
		resp := env.do(method, path, "", body, h)
		return resp.StatusCode, readBody(t, resp)
	}

	// Anyone but an admin is refused, and nothing changes.
	for _, h := range []struct {
		name string
		h    http.Header
	}{{"OperatorManage", bearer(model.RoleOperator, "manage")}, {"AdminRead", bearer(model.RoleAdmin, "read")}, {"Auditor", bearer(model.RoleAuditor, "read")}} {
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/api/v1/retention/rules", `{"category":"ACCESS_CONTROL","keep":"90d"}`},
			{"POST", "/api/v1/retention/holds", `{"tenant":"acme"}`},
			{"GET", "/api/v1/retention/rules", ""},
			{"DELETE", "/api/v1/retention/holds/1", ""},
		} {
			if code, body := call(h.h, c.method, c.path, c.body); code != http.StatusForbidden {
				t.Errorf("%s %s %s: %d %s", h.name, c.method, c.path, code, body)
			}
		}
	}
	if rules, _ := env.st.RetentionRules(ctx); len(rules) != 0 {
		t.Fatalf("rules after refused calls: %+v", rules)
	}

	// Bad input gets a clear error.
	for _, c := range []struct{ path, body, want string }{
		{"/api/v1/retention/rules", `{"keep":"90d"}`, "the default rule is set with --retention"},
		{"/api/v1/retention/rules", `{"category":"AUDIT_LOG","keep":"90d"}`, "--retention-audit"},
		{"/api/v1/retention/rules", `{"category":"NOPE","keep":"90d"}`, "is not one of"},
		{"/api/v1/retention/rules", `{"tenant":"acme","keep":"soon"}`, "is not a duration"},
		{"/api/v1/retention/holds", `{"reason":"x"}`, "names a tenant, a time range"},
		{"/api/v1/retention/holds", `{"received_from":"2026-02-01","received_to":"2026-01-01"}`, "received_to is before received_from"},
	} {
		if code, body := call(admin, "POST", c.path, c.body); code != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("POST %s %s: %d %s, want 400 saying %q", c.path, c.body, code, body, c.want)
		}
	}

	// The admin sets rules and holds.
	for _, c := range []struct{ path, body string }{
		{"/api/v1/retention/rules", `{"category":"ACCESS_CONTROL","keep":"90d"}`},
		{"/api/v1/retention/rules", `{"tenant":"acme","keep":"30d"}`},
		{"/api/v1/retention/rules", `{"tenant":"acme","keep":"60d"}`}, // changes the rule above
		{"/api/v1/retention/holds", `{"tenant":"beta","reason":"litigation 2026-7"}`},
		{"/api/v1/retention/holds", `{"received_from":"2025-01-01T00:00:00Z","received_to":"2025-02-01T00:00:00Z"}`},
	} {
		if code, body := call(admin, "POST", c.path, c.body); code != http.StatusOK && code != http.StatusCreated {
			t.Fatalf("POST %s %s: %d %s", c.path, c.body, code, body)
		}
	}
	code, body := call(admin, "GET", "/api/v1/retention/rules", "")
	var rules struct {
		Rules []struct {
			ID                     int64
			Category, Tenant, Keep string
			Flag                   string
			KeptEvents             *int64 `json:"kept_events"`
		}
	}
	if code != 200 || json.Unmarshal([]byte(body), &rules) != nil || len(rules.Rules) != 4 ||
		rules.Rules[0].Flag != "--retention" || rules.Rules[0].Keep != "400d" || rules.Rules[1].Keep != "2555d" ||
		rules.Rules[2].Category != "ACCESS_CONTROL" || rules.Rules[3].Tenant != "acme" || rules.Rules[3].Keep != "60d" {
		t.Fatalf("rules: %d %s", code, body)
	}
	code, body = call(admin, "GET", "/api/v1/retention/holds", "")
	if code != 200 || !strings.Contains(body, `"tenant":"beta"`) || !strings.Contains(body, `"received_from":"2025-01-01T00:00:00Z"`) {
		t.Fatalf("holds: %d %s", code, body)
	}
	if code, body := call(admin, "DELETE", "/api/v1/retention/holds/2", ""); code != 200 || !strings.Contains(body, `"id":2`) {
		t.Fatalf("release: %d %s", code, body)
	}
	if code, body := call(admin, "DELETE", "/api/v1/retention/holds/2", ""); code != 404 {
		t.Fatalf("release twice: %d %s", code, body)
	}
	if code, body := call(admin, "DELETE", "/api/v1/retention/rules/1", ""); code != 200 || !strings.Contains(body, `"category":"ACCESS_CONTROL"`) {
		t.Fatalf("delete rule: %d %s", code, body)
	}

	// Each change is audited with its actor.
	for typ, want := range map[string]int{store.TypeRetentionRuleSet: 3, store.TypeRetentionRuleDeleted: 1, store.TypeLegalHoldPlaced: 2, store.TypeLegalHoldReleased: 1} {
		evs := env.eventsOf(model.CategoryAuditLog, typ)
		if len(evs) != want {
			t.Errorf("%d %s events, want %d", len(evs), typ, want)
		}
		for _, e := range evs {
			if e.Actor.ID != "admin" || e.Actor.IP != "127.0.0.1" {
				t.Errorf("%s by %+v", typ, e.Actor)
			}
		}
	}

	// A retention run counts what each rule keeps; Settings shows it.
	var evs []model.Event
	for i := 0; i < 600; i++ {
		e, err := model.DecodeEvent([]byte(fmt.Sprintf(`{"message":"event %d","tenant":%q}`, i, []string{"acme", "beta", ""}[i%3])), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if _, err := env.st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	set, _ := env.st.RulesInForce(ctx, 400*24*time.Hour, 2555*24*time.Hour)
	holds, _ := env.st.LegalHolds(ctx)
	if _, err := env.st.ApplyRetention(ctx, store.PolicyAt(time.Now(), set, holds)); err != nil {
		t.Fatal(err)
	}
	resp := env.do("GET", "/settings", env.session(model.RoleAdmin), "", nil)
	page := readBody(t, resp)
	for _, want := range []string{
		`<td>events of tenant acme</td><td>60d</td>`, `<code>--retention-audit</code>`, `<td>tenant beta</td><td>litigation 2026-7</td>`,
		`action="/settings/retention/holds/1/release"`, `action="/settings/retention/rules"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("Settings does not show %q", want)
		}
	}
	// acme's events among the first 512 (ids 8..519 after the 7 audit
	// events: those above the newest block edge are not counted).
	acme := 0
	for id := 8; id <= 512; id++ {
		if (id-8)%3 == 0 {
			acme++
		}
	}
	if !strings.Contains(page, fmt.Sprintf(`">%d</td>`, acme)) {
		t.Errorf("Settings does not show the %d events the acme rule keeps:\n%s", acme, page[strings.Index(page, "retention-rules"):][:3000])
	}
	// The console's forms: an admin sets a rule; an operator may not.
	form := "category=AUTH&tenant=beta&keep=7d"
	if resp := env.do("POST", "/settings/retention/rules", env.session(model.RoleOperator), form, nil); resp.StatusCode != 403 {
		t.Errorf("operator set a rule: %d", resp.StatusCode)
	}
	resp = env.do("POST", "/settings/retention/rules", env.session(model.RoleAdmin), form, nil)
	if resp.StatusCode != 303 {
		t.Fatalf("console rule: %d %s", resp.StatusCode, readBody(t, resp))
	}
	page = readBody(t, env.do("GET", resp.Header.Get("Location"), env.session(model.RoleAdmin), "", nil))
	if !strings.Contains(page, "Retention rule saved.") || !strings.Contains(page, "<td>AUTH events of tenant beta</td><td>7d</td>") {
		t.Errorf("Settings after the console's rule:\n%s", page)
	}
}

// TestRedactedEventSaysWhyAndWhen opens a redacted event's page: it names
// the retention record and the rule that dropped it.
func TestRedactedEventSaysWhyAndWhen(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	var evs []model.Event
	for i := 1; i <= 300; i++ {
		e, err := model.DecodeEvent([]byte(fmt.Sprintf(`{"message":"secret %d","category":%q,"tenant":"acme"}`, i, []string{"USAGE", "AUDIT_LOG"}[i%2])), time.Now().Add(-40*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if _, err := env.st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	p := store.PolicyAt(time.Now(), []model.RetentionRule{{Category: model.CategoryUsage, Tenant: "acme", Keep: 30 * 24 * time.Hour}}, nil)
	if res, err := env.st.ApplyRetention(ctx, p); err != nil || res.RecordID != 301 || res.Redacted == 0 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	resp := env.do("GET", "/events/2", env.session(model.RoleAdmin), "", nil)
	body := readBody(t, resp)
	want := `under <a href="/events/301">retention record 301</a>: USAGE events of tenant acme (kept 30d): dropped when received before `
	if resp.StatusCode != 200 || !strings.Contains(body, want) || !strings.Contains(body, "Content removed by retention on ") || strings.Contains(body, "secret 2<") {
		t.Fatalf("redacted event page: %d %s", resp.StatusCode, body)
	}
}
