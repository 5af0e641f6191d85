package handlers

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"vigil/model"
)

// key returns the API token of key ("admin/ingest": the user of role
// admin, scope ingest), made on first use; an agent token acts as the
// agent named after the role.
func (env *testEnv) key(key string) string {
	env.t.Helper()
	env.mu.Lock()
	defer env.mu.Unlock()
	if tok, ok := env.keys[key]; ok {
		return tok
	}
	role, scope, _ := strings.Cut(key, "/")
	if _, ok := env.users[role]; !ok || !model.ScopeAllowedForRole(scope, role) {
		env.t.Fatalf("no token %s", key)
	}
	tok := env.token(role, scope)
	env.keys[key] = tok
	return tok
}

// api sends an API request with the token of key ("admin/ingest"; "" for
// none) and returns the status and body.
func (env *testEnv) api(method, path, key, contentType string, body []byte) (int, []byte) {
	env.t.Helper()
	req, err := http.NewRequest(method, env.url+path, bytes.NewReader(body))
	if err != nil {
		env.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+env.key(key))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		env.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *testEnv) post(body string, contentType string) (int, map[string]any) {
	e.t.Helper()
	code, b := e.api("POST", "/api/v1/events", "operator/ingest", contentType, []byte(body))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("response %d %q: %v", code, b, err)
	}
	return code, m
}

type listResp struct {
	Events []struct {
		ID       int64           `json:"id"`
		EventID  string          `json:"event_id"`
		Type     string          `json:"type"`
		Category string          `json:"category"`
		Message  string          `json:"message"`
		Source   string          `json:"source"`
		Hash     string          `json:"hash"`
		Details  json.RawMessage `json:"details"`
		Actor    struct {
			ID string `json:"id"`
		} `json:"actor"`
	} `json:"events"`
	Next *string `json:"next"`
}

func (e *testEnv) list(query, key string) listResp {
	e.t.Helper()
	code, b := e.api("GET", "/api/v1/events?"+query, key, "", nil)
	if code != 200 {
		e.t.Fatalf("GET events?%s: %d %s", query, code, b)
	}
	var r listResp
	if err := json.Unmarshal(b, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func TestIntakeForms(t *testing.T) {
	e := newTestEnv(t)
	cases := []struct {
		name, ctype, body string
		want              int
	}{
		{"Object", "application/json", `{"type":"CERT_USED","message":"one"}`, 1},
		{"PrettyObject", "application/json", "{\n  \"type\": \"CERT_USED\",\n  \"message\": \"pretty\"\n}", 1},
		{"Array", "application/json", `[{"message":"a1"},{"message":"a2"},{"message":"a3"}]`, 3},
		{"NDJSON", "application/x-ndjson", "{\"message\":\"n1\"}\n{\"message\":\"n2\"}\n\n{\"message\":\"n3\"}\n", 3},
		{"ObjectsWithoutType", "", "{\"message\":\"s1\"} {\"message\":\"s2\"}", 2},
	}
	total := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, m := e.post(c.body, c.ctype)
			if code != 202 || m["accepted"] != float64(c.want) || m["duplicates"] != float64(0) {
				t.Fatalf("got %d %v, want 202 accepted %d", code, m, c.want)
			}
		})
		total += c.want
	}
	r := e.list("limit=1000", "admin/read")
	if len(r.Events) != total {
		t.Fatalf("stored %d events, want %d", len(r.Events), total)
	}
	if r.Events[0].Message != "s2" || r.Events[0].Source != "http" || len(r.Events[0].Hash) != 64 {
		t.Errorf("newest event %+v", r.Events[0])
	}
}

func TestRetriedBatchStoredOnce(t *testing.T) {
	e := newTestEnv(t)
	batch := `[{"event_id":"agent7-1","message":"x"},{"event_id":"agent7-2","message":"y"}]`
	if code, m := e.post(batch, "application/json"); code != 202 || m["accepted"] != float64(2) {
		t.Fatalf("first: %d %v", code, m)
	}
	if code, m := e.post(batch, "application/json"); code != 202 || m["accepted"] != float64(0) || m["duplicates"] != float64(2) {
		t.Fatalf("retry: %d %v", code, m)
	}
	if n := len(e.list("", "admin/read").Events); n != 2 {
		t.Errorf("stored %d events, want 2", n)
	}
}

func TestInvalidBatchStoresNothing(t *testing.T) {
	e := newTestEnv(t)
	body := strings.Join([]string{
		`{"message":"fine"}`,
		`{"category":"NOPE"}`,
		`{"message":"fine too"}`,
		`{"time":"yesterday"}`,
		`not json`,
		`{"actor":{"ip":"999.1.1.1"}}`,
		`{"mesage":"typo"}`,
		`[1]`,
	}, "\n")
	code, m := e.post(body, "application/x-ndjson")
	if code != 400 {
		t.Fatalf("status %d, want 400: %v", code, m)
	}
	items, _ := m["items"].([]any)
	want := map[int]string{1: "category", 3: "time", 4: "invalid character", 5: "actor.ip", 6: "unknown field", 7: "JSON object"}
	if len(items) != len(want) {
		t.Fatalf("items %v, want %d", items, len(want))
	}
	for _, it := range items {
		it := it.(map[string]any)
		idx := int(it["index"].(float64))
		if !strings.Contains(it["reason"].(string), want[idx]) {
			t.Errorf("item %d reason %q, want it to mention %q", idx, it["reason"], want[idx])
		}
	}
	if n := len(e.list("", "admin/read").Events); n != 0 {
		t.Errorf("%d events stored from a refused batch", n)
	}
	if code, m := e.post("", "application/json"); code != 400 || !strings.Contains(m["error"].(string), "no events") {
		t.Errorf("empty body: %d %v", code, m)
	}
}

func TestAuthErrors(t *testing.T) {
	e := newTestEnv(t, withConfig(Config{MaxBodyBytes: 1024}))
	cases := []struct {
		name, method, path, key, body string
		want                          int
	}{
		{"NoToken", "POST", "/api/v1/events", "", `{}`, 401},
		{"ReadNoToken", "GET", "/api/v1/events", "", ``, 401},
		{"ReadTokenCannotIngest", "POST", "/api/v1/events", "admin/read", `{}`, 403},
		{"IngestTokenCannotRead", "GET", "/api/v1/events", "admin/ingest", ``, 403},
		{"AuditorCannotIngest", "POST", "/api/v1/events", "auditor/read", `{}`, 403},
		{"TooLarge", "POST", "/api/v1/events", "admin/ingest", `{"message":"` + strings.Repeat("x", 2000) + `"}`, 413},
		{"ViewerNoSystemCategory", "GET", "/api/v1/events?category=SYSTEM", "viewer/read", ``, 403},
		{"ViewerNoAuditCategory", "GET", "/api/v1/events?category=AUDIT_LOG", "viewer/read", ``, 403},
		{"ViewerNoSystemExport", "GET", "/api/v1/events.csv?category=SYSTEM", "viewer/read", ``, 403},
		{"ViewerNoVerify", "GET", "/api/v1/audit/verify", "viewer/read", ``, 403},
		{"AuditorMayVerify", "GET", "/api/v1/audit/verify", "auditor/read", ``, 200},
		{"OperatorOwnSystem", "GET", "/api/v1/events?category=SYSTEM", "operator/read", ``, 200},
		{"BadFilter", "GET", "/api/v1/events?limit=5000", "admin/read", ``, 400},
		{"Healthz", "GET", "/healthz", "", ``, 200},
		{"MetricsNeedToken", "GET", "/metrics", "", ``, 401},
		{"Metrics", "GET", "/metrics", "auditor/read", ``, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b := e.api(c.method, c.path, c.key, "application/json", []byte(c.body))
			if code != c.want {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, code, b, c.want)
			}
			if code >= 400 {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil || m["error"] == "" {
					t.Errorf("error body %q is not {\"error\": …}", b)
				}
			}
		})
	}
}

func TestEventVisibilityByID(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	sys := func(actorType, actor string) int64 {
		ev := model.Event{Category: model.CategorySystem, Type: "E_SETTINGS_CHANGED", Source: model.SourceInternal,
			Actor: model.Actor{Type: actorType, ID: actor}}
		if err := ev.Normalize(e.st.Now()); err != nil {
			t.Fatal(err)
		}
		res, err := e.st.AppendEvents(ctx, []model.Event{ev})
		if err != nil {
			t.Fatal(err)
		}
		return res.IDs[0]
	}
	adminOwn, operatorOwn, scheduler := sys("USER", "admin"), sys("USER", "operator"), sys("SYSTEM", "scheduler")
	cases := []struct {
		name string
		id   int64
		key  string
		want int
	}{
		{"ViewerSystem", adminOwn, "viewer/read", 403},
		{"OperatorOthersSystem", adminOwn, "operator/read", 403},
		{"OperatorOwnSystem", operatorOwn, "operator/read", 200},
		{"OperatorSchedulerSystem", scheduler, "operator/read", 200},
		{"AuditorAny", adminOwn, "auditor/read", 200},
		{"Missing", 999, "admin/read", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b := e.api("GET", fmt.Sprintf("/api/v1/events/%d", c.id), c.key, "", nil)
			if code != c.want {
				t.Fatalf("got %d %s, want %d", code, b, c.want)
			}
		})
	}
	// Listings without a category hold only what the role may see.
	if r := e.list("", "operator/read"); len(r.Events) != 2 {
		t.Errorf("operator sees %d SYSTEM events, want its own and the scheduler's", len(r.Events))
	}
	if r := e.list("", "viewer/read"); len(r.Events) != 0 {
		t.Errorf("viewer sees %d events, want none", len(r.Events))
	}
}

// TestFiltersAndCursor posts a varied set of events, then checks that each
// filter returns exactly the matching events and that walking the cursor
// visits every matching row exactly once, newest first.
func TestFiltersAndCursor(t *testing.T) {
	e := newTestEnv(t)
	var lines []string
	type fields struct{ cat, typ, outcome, actor, agent, tenant, tm string }
	var all []fields
	cats := []string{"USAGE", "AUTH", "ACCESS_CONTROL", "AUDIT_LOG"}
	outcomes := []string{"ALLOWED", "DENIED", "SUCCESS", "FAILURE"}
	for i := 0; i < 257; i++ {
		f := fields{
			cat: cats[i%4], typ: fmt.Sprintf("T%d", i%5), outcome: outcomes[i%3],
			actor: fmt.Sprintf("user%d", i%7), agent: fmt.Sprintf("agent%d", i%3), tenant: fmt.Sprintf("t%d", i%2),
			tm: fmt.Sprintf("2026-03-%02dT10:00:00Z", 1+i%28),
		}
		all = append(all, f)
		lines = append(lines, fmt.Sprintf(`{"category":%q,"type":%q,"outcome":%q,"actor":{"id":%q},"agent_id":%q,"tenant":%q,"time":%q,"message":"m%d"}`,
			f.cat, f.typ, f.outcome, f.actor, f.agent, f.tenant, f.tm, i))
	}
	if code, m := e.post(strings.Join(lines, "\n"), "application/x-ndjson"); code != 202 {
		t.Fatalf("post: %d %v", code, m)
	}
	cases := []struct {
		name  string
		query url.Values
		match func(f fields) bool
	}{
		{"All", url.Values{}, func(fields) bool { return true }},
		{"Category", url.Values{"category": {"AUTH"}}, func(f fields) bool { return f.cat == "AUTH" }},
		{"Categories", url.Values{"category": {"AUTH,USAGE"}}, func(f fields) bool { return f.cat == "AUTH" || f.cat == "USAGE" }},
		{"HideAccessControl", url.Values{"hide_access_control": {"1"}}, func(f fields) bool { return f.cat != "ACCESS_CONTROL" }},
		{"Type", url.Values{"type": {"T3"}}, func(f fields) bool { return f.typ == "T3" }},
		{"Outcome", url.Values{"outcome": {"denied"}}, func(f fields) bool { return f.outcome == "DENIED" }},
		{"Actor", url.Values{"actor": {"user4"}}, func(f fields) bool { return f.actor == "user4" }},
		{"Agent", url.Values{"agent_id": {"agent2"}}, func(f fields) bool { return f.agent == "agent2" }},
		{"Tenant", url.Values{"tenant": {"t1"}}, func(f fields) bool { return f.tenant == "t1" }},
		{"From", url.Values{"from": {"2026-03-20T00:00:00Z"}}, func(f fields) bool { return f.tm >= "2026-03-20" }},
		{"To", url.Values{"to": {"2026-03-05T10:00:00Z"}}, func(f fields) bool { return f.tm <= "2026-03-05T10:00:00Z" }},
		{"FromTo", url.Values{"from": {"2026-03-10T00:00:00+01:00"}, "to": {"2026-03-12T23:00:00Z"}}, func(f fields) bool { return f.tm >= "2026-03-10" && f.tm <= "2026-03-12T23" }},
		{"Combined", url.Values{"category": {"USAGE"}, "tenant": {"t0"}, "q": {"m4"}}, func(f fields) bool { return false }},
		{"Search", url.Values{"q": {"m42 OR m43"}}, func(f fields) bool { return false }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := map[string]bool{}
			for i, f := range all {
				if c.match(f) {
					want[fmt.Sprintf("m%d", i)] = true
				}
			}
			if c.name == "Combined" {
				for i, f := range all {
					if f.cat == "USAGE" && f.tenant == "t0" && fmt.Sprintf("m%d", i) == "m4" {
						want["m4"] = true
					}
				}
			}
			if c.name == "Search" {
				want = map[string]bool{"m42": true, "m43": true}
			}
			seen := map[string]bool{}
			q := c.query
			q.Set("limit", "10")
			var lastID int64 = 1 << 62
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Fatal("cursor does not end")
				}
				r := e.list(q.Encode(), "admin/read")
				for _, ev := range r.Events {
					if ev.ID >= lastID {
						t.Fatalf("id %d after %d: not newest first", ev.ID, lastID)
					}
					lastID = ev.ID
					if seen[ev.Message] {
						t.Fatalf("%s returned twice", ev.Message)
					}
					seen[ev.Message] = true
				}
				if r.Next == nil {
					break
				}
				q.Set("before", *r.Next)
			}
			if len(seen) != len(want) {
				t.Fatalf("got %d events, want %d", len(seen), len(want))
			}
			for m := range want {
				if !seen[m] {
					t.Fatalf("missing %s", m)
				}
			}
		})
	}
	t.Run("StartIndex", func(t *testing.T) {
		all := e.list("limit=1000", "admin/read").Events
		page := e.list("start=20&limit=5", "admin/read").Events
		if len(page) != 5 || page[0].ID != all[20].ID || page[4].ID != all[24].ID {
			t.Errorf("start=20&limit=5 gave %d events starting at %d, want ids %d..%d", len(page), page[0].ID, all[20].ID, all[24].ID)
		}
	})
}

func TestCSVExport(t *testing.T) {
	e := newTestEnv(t)
	tricky := []string{
		`comma, inside`, `"quoted" text`, "line one\nline two", `ünïcødé ✓ 証明書`,
		`=HYPERLINK("http://x")`, `+1+2`, `-3`, `@SUM(A1)`, "\tTabbed", "\rCarriage",
	}
	var lines []string
	for i, m := range tricky {
		b, _ := json.Marshal(map[string]any{"message": m, "type": "CERT_USED", "event_id": fmt.Sprintf("csv-%d", i)})
		lines = append(lines, string(b))
	}
	if code, m := e.post(strings.Join(lines, "\n"), "application/x-ndjson"); code != 202 {
		t.Fatalf("post: %d %v", code, m)
	}
	code, body := e.api("GET", "/api/v1/events.csv?type=CERT_USED", "auditor/read", "", nil)
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(tricky)+1 || recs[0][0] != "id" {
		t.Fatalf("%d records, header %v", len(recs), recs[0])
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	got := map[string]string{}
	for _, r := range recs[1:] {
		got[r[col["event_id"]]] = r[col["message"]]
	}
	for i, m := range tricky {
		want := m
		if strings.ContainsRune("=+-@\t\r", rune(m[0])) {
			want = "'" + m
		}
		if strings.Contains(m, "\r") {
			// encoding/csv's reader drops a lone CR; check the raw bytes.
			if !bytes.Contains(body, []byte(`"`+want+`"`)) {
				t.Errorf("message %q not written as %q", m, want)
			}
			continue
		}
		if g := got[fmt.Sprintf("csv-%d", i)]; g != want {
			t.Errorf("message %q came back as %q, want %q", m, g, want)
		}
	}
	// The export is recorded, with its filter and row count.
	r := e.list("category=SYSTEM", "admin/read")
	var requested, generated bool
	for _, ev := range r.Events {
		var d map[string]any
		json.Unmarshal(ev.Details, &d)
		switch ev.Type {
		case "E_REPORT_REQUESTED":
			requested = d["filters_used"] == "type=CERT_USED" && ev.Actor.ID == "auditor"
		case "E_REPORT_GENERATED":
			generated = d["number_of_records"] == float64(len(tricky)) && d["filters_used"] == "type=CERT_USED"
		}
	}
	if !requested || !generated {
		t.Errorf("export not recorded as expected: %+v", r.Events)
	}
}

func TestMetricsCountIngest(t *testing.T) {
	e := newTestEnv(t)
	if code, _ := e.post(`[{"message":"a"},{"message":"b"},{"message":"c"}]`, "application/json"); code != 202 {
		t.Fatal(code)
	}
	e.post(`{"category":"bogus"}`, "application/json")
	code, body := e.api("GET", "/metrics", "admin/read", "", nil)
	if code != 200 {
		t.Fatal(code)
	}
	for _, want := range []string{
		`vigil_events_stored_total{source="http"} 3`,
		`vigil_ingest_rejected_total{reason="invalid",source="http"} 1`,
		`vigil_writer_batch_events_count`,
		`vigil_writer_commit_seconds_bucket`,
		`vigil_writer_queue_depth 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
