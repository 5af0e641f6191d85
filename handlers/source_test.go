package handlers

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"vigil/model"
)

// dbScan reads one row of q from the database file into dest.
func dbScan(env *testEnv, q string, dest ...any) error {
	db, err := openSQL(env.st.Path())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.QueryRow(q).Scan(dest...)
}

// apiGet sends a GET with a bearer token and returns status and body.
func (env *testEnv) apiGet(path, token string) (int, string) {
	env.t.Helper()
	resp := env.do(http.MethodGet, path, "", "", http.Header{"Authorization": {"Bearer " + token}})
	return resp.StatusCode, readBody(env.t, resp)
}

// apiPost posts body as NDJSON with a bearer token.
func (env *testEnv) apiPost(path, token, body string) (int, map[string]any) {
	env.t.Helper()
	resp := env.do(http.MethodPost, path, "", body, http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/x-ndjson"}})
	var m map[string]any
	if err := json.Unmarshal([]byte(readBody(env.t, resp)), &m); err != nil {
		env.t.Fatalf("response %d: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

// TestIngestCannotForgeSystem: an ingest token posting what looks like the
// console's own record of a role change is refused whole, naming the item;
// the source a client sends is ignored, so it cannot claim "internal".
func TestIngestCannotForgeSystem(t *testing.T) {
	env := newTestEnv(t)
	tok := env.token("admin", "ingest")
	batch := strings.Join([]string{
		`{"type":"CERT_USED","message":"fine"}`,
		`{"category":"SYSTEM","type":"E_ROLE_CHANGED","outcome":"SUCCESS","actor":{"type":"USER","id":"admin"},"app":"console","message":"Changed the role of mallory to admin","details":{"section":"settings"}}`,
		`{"category":"system","source":"internal","type":"E_SETTINGS_CHANGED","message":"also forged"}`,
	}, "\n")
	code, m := env.apiPost("/api/v1/events", tok, batch)
	if code != http.StatusBadRequest {
		t.Fatalf("forged SYSTEM batch: %d %v, want 400", code, m)
	}
	items, _ := m["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("items %v, want items 1 and 2", m["items"])
	}
	for i, it := range items {
		it := it.(map[string]any)
		reason, _ := it["reason"].(string)
		if int(it["index"].(float64)) != i+1 || !strings.Contains(reason, "category") || !strings.Contains(reason, "SYSTEM") || !strings.Contains(reason, "reserved") {
			t.Errorf("item %v, want index %d naming the reserved category", it, i+1)
		}
	}
	var n int
	if err := dbCount(env, `SELECT count(*) FROM events WHERE app = 'console' OR message IN ('fine', 'also forged')`, &n); err != nil || n != 0 {
		t.Fatalf("%d events of the refused batch stored (%v)", n, err)
	}

	// An external AUDIT_LOG event is accepted, as sent by http, whatever
	// source it names.
	code, m = env.apiPost("/api/v1/events", tok, `{"category":"AUDIT_LOG","source":"internal","type":"USER_ROLE_CHANGED","message":"forwarded audit"}`)
	if code != http.StatusAccepted {
		t.Fatalf("external AUDIT_LOG: %d %v", code, m)
	}
	var source string
	if err := dbScan(env, `SELECT source FROM events WHERE message = 'forwarded audit'`, &source); err != nil || source != model.SourceHTTP {
		t.Errorf("source of a posted event %q (%v), want http", source, err)
	}
}

// sourceFixture stores events of every source: two posted over HTTP, one
// as syslog over UDP, and Vigil's own AUDIT_LOG and SYSTEM records.
func sourceFixture(t *testing.T, env *testEnv) {
	t.Helper()
	ctx := context.Background()
	code, m := env.apiPost("/api/v1/events", env.token("admin", "ingest"),
		`{"type":"CERT_USED","actor":{"id":"hugo"},"message":"usage-http"}`+"\n"+
			`{"category":"AUDIT_LOG","type":"USER_ROLE_CHANGED","actor":{"type":"USER","id":"mallory"},"message":"audit-http"}`)
	if code != http.StatusAccepted {
		t.Fatalf("post: %d %v", code, m)
	}
	udp := model.Event{Source: model.SourceSyslogUDP, Type: "CERT_USED", Actor: model.UserActor("udo"), Host: "web-01", Message: "usage-udp"}
	if err := udp.Normalize(time.Now()); err != nil {
		t.Fatal(err)
	}
	audit, err := model.NewAuditEvent(time.Now(), "USER_CREATED", "SUCCESS", model.UserActor("admin"),
		model.Entity{Type: "USER", ID: "ann"}, "audit-internal", nil)
	if err != nil {
		t.Fatal(err)
	}
	sys := model.Event{Source: model.SourceInternal, Category: model.CategorySystem, Type: "E_SETTINGS_CHANGED",
		Actor: model.UserActor("admin"), App: "console", Message: "system-internal", Details: json.RawMessage(`{"section":"settings"}`)}
	if err := sys.Normalize(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := env.st.AppendEvents(ctx, []model.Event{udp, audit, sys}); err != nil {
		t.Fatal(err)
	}
}

// TestSourceFilterAPI: source= selects exactly the events of that source,
// in the listing and in the CSV export; an unknown source is a 400.
func TestSourceFilterAPI(t *testing.T) {
	env := newTestEnv(t)
	sourceFixture(t, env)
	tok := env.token("auditor", "read")
	messages := func(query string) []string {
		t.Helper()
		code, body := env.apiGet("/api/v1/events?"+query, tok)
		if code != http.StatusOK {
			t.Fatalf("GET events?%s: %d %s", query, code, body)
		}
		var r struct {
			Events []struct{ Source, Message string }
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range r.Events {
			if !strings.HasPrefix(e.Message, "Events export") && e.Message != "Events export requested" {
				out = append(out, e.Source+":"+e.Message)
			}
		}
		return out
	}
	for _, tc := range []struct{ query, want string }{
		{"source=http", "http:audit-http http:usage-http"},
		{"source=syslog-udp", "syslog-udp:usage-udp"},
		{"source=internal&category=AUDIT_LOG", "internal:audit-internal"},
		{"source=http&category=AUDIT_LOG", "http:audit-http"},
		{"source=syslog-udp,http&category=USAGE", "syslog-udp:usage-udp http:usage-http"},
		{"source=syslog-tls", ""},
	} {
		if got := strings.Join(messages(tc.query), " "); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.query, got, tc.want)
		}
	}
	code, body := env.apiGet("/api/v1/events?source=console", tok)
	if code != http.StatusBadRequest || !strings.Contains(body, `source: \"console\" is not one of http, syslog-udp, syslog-tcp, syslog-tls, internal`) {
		t.Errorf("unknown source: %d %s", code, body)
	}
	if code, body := env.apiGet("/api/v1/events.csv?source=bogus", tok); code != http.StatusBadRequest {
		t.Errorf("CSV with unknown source: %d %s", code, body)
	}

	code, body = env.apiGet("/api/v1/events.csv?source=http", tok)
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, body)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs[1:] {
		got = append(got, r[3]+":"+r[25])
	}
	if recs[0][3] != "source" || strings.Join(got, " ") != "http:audit-http http:usage-http" {
		t.Errorf("CSV of source=http: header %v, rows %v", recs[0][3], got)
	}
	var filters string
	if err := dbScan(env, `SELECT json_extract(details, '$.filters_used') FROM events WHERE type = 'E_REPORT_GENERATED'`, &filters); err != nil || filters != "source=http" {
		t.Errorf("export recorded filters %q (%v), want source=http", filters, err)
	}
}

// TestLogPagesShowSource: each event page has a Source column whose cells
// filter the page by that source, filters by source= and shows the source
// in the detail drawer.
func TestLogPagesShowSource(t *testing.T) {
	env := newTestEnv(t)
	sourceFixture(t, env)
	admin := env.session("admin")
	page := func(path string, want int) string {
		t.Helper()
		resp := env.do(http.MethodGet, path, admin, "", http.Header{"Accept": {"text/html"}})
		body := readBody(t, resp)
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d:\n%s", path, resp.StatusCode, want, body)
		}
		return html.UnescapeString(body)
	}
	for _, tc := range []struct {
		path       string
		has, hasNo []string
	}{
		{"/events", []string{`<th scope="col">Source</th>`, `href="/events?hide_access_control=1&source=http"`, `href="/events?hide_access_control=1&source=syslog-udp"`, ">udo<", ">hugo<"}, nil},
		{"/audit", []string{`<th scope="col">Source</th>`, `href="/audit?source=http"`, `href="/audit?source=internal"`, "mallory", ">ann<"}, nil},
		{"/system", []string{`<th scope="col">Source</th>`, `href="/system?source=internal"`, "system-internal"}, nil},
		{"/audit?source=http", []string{"mallory", `value="http" selected`}, []string{">ann<"}},
		{"/audit?source=internal", []string{">ann<"}, []string{"mallory"}},
		{"/events?source=syslog-udp", []string{">udo<", `href="/api/v1/events.csv?category=USAGE%2CAUTH%2CACCESS_CONTROL&hide_access_control=1&source=syslog-udp"`}, []string{">hugo<"}},
	} {
		body := page(tc.path, http.StatusOK)
		for _, s := range tc.has {
			if !strings.Contains(body, s) {
				t.Errorf("%s lacks %q", tc.path, s)
			}
		}
		for _, s := range tc.hasNo {
			if strings.Contains(body, s) {
				t.Errorf("%s shows %q", tc.path, s)
			}
		}
	}
	if body := page("/events?source=console", http.StatusBadRequest); !strings.Contains(body, `source: "console" is not one of`) {
		t.Errorf("unknown source on a page: %s", body)
	}

	// The drawer names the source and links to the page filtered by it.
	var id int64
	if err := dbScan(env, `SELECT id FROM events WHERE message = 'audit-http'`, &id); err != nil {
		t.Fatal(err)
	}
	resp := env.do(http.MethodGet, "/events/"+strconvI(id), admin, "", http.Header{"HX-Request": {"true"}})
	body := html.UnescapeString(readBody(t, resp))
	if !strings.Contains(body, "<dt>Source</dt>") || !bytes.Contains([]byte(body), []byte(`href="/audit?source=http"`)) {
		t.Errorf("drawer does not show the source as a filter link:\n%s", body)
	}
}
