package handlers

import (
	"context"
	"fmt"
	"time"

	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"vigil/model"
	"vigil/store"
)

// TestCheckpointAccept: GET /api/v1/audit/checkpoint answers the signed
// note to whoever prefers text/plain, however the Accept header spells it,
// and JSON otherwise.
func TestCheckpointAccept(t *testing.T) {
	env := newChangeEnv(t)
	tok := env.token("admin", "manage")
	auth := func(accept string) http.Header {
		h := http.Header{"Authorization": {"Bearer " + tok}}
		if accept != "" {
			h.Set("Accept", accept)
		}
		return h
	}
	if resp := env.do(http.MethodPost, "/api/v1/audit/checkpoint", "", "", auth("")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("checkpoint: %d %s", resp.StatusCode, readBody(t, resp))
	}
	for _, tc := range []struct{ accept, want string }{
		{"text/plain", "note"},
		{"text/plain; charset=utf-8", "note"},
		{"text/plain, */*", "note"},
		{"TEXT/PLAIN;q=0.9, application/json;q=0.5", "note"},
		{"application/json, text/plain;q=0.5", "json"},
		{"application/json;q=0.1, text/*", "note"},
		{"text/plain;q=0, */*", "json"},
		{"*/*", "json"},
		{"", "json"},
	} {
		resp := env.do(http.MethodGet, "/api/v1/audit/checkpoint", "", "", auth(tc.accept))
		body := readBody(t, resp)
		got := "json"
		if !strings.HasPrefix(body, "{") {
			got = "note"
		}
		if resp.StatusCode != http.StatusOK || got != tc.want || (got == "note" && !strings.Contains(body, "\n— ")) {
			t.Errorf("Accept %q: %d %s, want the %s:\n%s", tc.accept, resp.StatusCode, got, tc.want, body)
		}
	}
}

// TestProofImpossibleSizes: a proof of a tree that cannot exist is refused
// with 400, not answered for another tree.
func TestProofImpossibleSizes(t *testing.T) {
	env := newTestEnv(t)
	env.appendEvents(`{"message":"a"}`, `{"message":"b"}`, `{"message":"c"}`)
	tok := env.token("admin", "read")
	h := http.Header{"Authorization": {"Bearer " + tok}}
	for _, path := range []string{
		"/api/v1/events/2/proof?size=0",
		"/api/v1/events/2/proof?size=1",
		"/api/v1/events/2/proof?size=99",
		"/api/v1/events/2/proof?size=-1",
		"/api/v1/events/2/proof?size=x",
		"/api/v1/audit/consistency?from=0&to=3",
		"/api/v1/audit/consistency?from=1&to=0",
		"/api/v1/audit/consistency?from=3&to=2",
	} {
		if resp := env.do(http.MethodGet, path, "", "", h); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400: %s", path, resp.StatusCode, readBody(t, resp))
		}
	}
	for _, path := range []string{"/api/v1/events/2/proof", "/api/v1/events/2/proof?size=3", "/api/v1/audit/consistency?from=1"} {
		if resp := env.do(http.MethodGet, path, "", "", h); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d, want 200: %s", path, resp.StatusCode, readBody(t, resp))
		}
	}
}

// TestRemovedEventIsGone: an event retention removed answers 410 Gone
// naming the retention record that removed it, on the API and on its
// console page; an id never used is still 404.
func TestRemovedEventIsGone(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	var evs []model.Event
	// Retention keeps the newest block of 256 events whatever their age.
	for i := 1; i <= 300; i++ {
		received := time.Now()
		if i <= 10 {
			received = received.Add(-500 * 24 * time.Hour)
		}
		e, err := model.DecodeEvent([]byte(fmt.Sprintf(`{"message":"event %d"}`, i)), received)
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
	if err != nil || res.RecordID == 0 || res.LastID != 10 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	want := fmt.Sprintf("retention record, event %d", res.RecordID)
	h := http.Header{"Authorization": {"Bearer " + env.token("admin", "read")}}
	resp := env.do(http.MethodGet, "/api/v1/events/2", "", "", h)
	if body := readBody(t, resp); resp.StatusCode != http.StatusGone || !strings.Contains(body, want) {
		t.Errorf("API: %d %s, want 410 naming the %s", resp.StatusCode, body, want)
	}
	resp = env.do(http.MethodGet, "/api/v1/events/2/proof", "", "", h)
	if body := readBody(t, resp); resp.StatusCode != http.StatusGone || !strings.Contains(body, want) {
		t.Errorf("proof: %d %s, want 410 naming the %s", resp.StatusCode, body, want)
	}
	resp = env.do(http.MethodGet, "/events/2", env.session("admin"), "", http.Header{"Accept": {"text/html"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusGone || !strings.Contains(body, "removed by retention") || !strings.Contains(body, want) {
		t.Errorf("page: %d, want 410 saying retention removed it:\n%s", resp.StatusCode, body)
	}
	resp = env.do(http.MethodGet, "/api/v1/events/9999", "", "", h)
	if body := readBody(t, resp); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unused id: %d %s, want 404", resp.StatusCode, body)
	}
}

// TestCheckpointsOnRequestAreSentOffTheBox: a checkpoint signed in
// Settings or through the API is handed to OnCheckpoint (the webhook and
// --checkpoint-syslog) once stored with its record; one that could not be
// recorded is neither stored nor sent.
func TestCheckpointsOnRequestAreSentOffTheBox(t *testing.T) {
	text, err := model.NewCheckpointKeyText("offbox.example/vigil")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := model.ParseCheckpointKey(text)
	sent := make(chan store.StoredCheckpoint, 4)
	env := newTestEnv(t, withConfig(Config{CheckpointKey: key, OnCheckpoint: func(_ context.Context, cp store.StoredCheckpoint) { sent <- cp }}))
	api := http.Header{"Authorization": {"Bearer " + env.token("admin", model.ScopeManage)}}
	restore := failWrites(t, env.st, "INSERT", "events")
	if resp := env.do(http.MethodPost, "/api/v1/audit/checkpoint", "", "", api); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("API while writes fail: %d %s", resp.StatusCode, readBody(t, resp))
	}
	restore()
	env.appendEvents(`{"message":"storage works again"}`)
	if len(sent) != 0 {
		t.Fatalf("a checkpoint that was not recorded was sent: %+v", <-sent)
	}
	if resp := env.do(http.MethodPost, "/settings/checkpoint", env.session("admin"), "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Settings: %d %s", resp.StatusCode, readBody(t, resp))
	}
	if resp := env.do(http.MethodPost, "/api/v1/audit/checkpoint", "", "", api); resp.StatusCode != http.StatusCreated {
		t.Fatalf("API: %d %s", resp.StatusCode, readBody(t, resp))
	}
	for want := int64(1); want <= 2; want++ {
		select {
		case cp := <-sent:
			if cp.ID != want || cp.Note == "" {
				t.Errorf("sent checkpoint %d (%q), want %d", cp.ID, cp.Note, want)
			}
		default:
			t.Fatalf("checkpoint %d was not sent", want)
		}
	}
	if ev := env.eventsOf(model.CategorySystem, "E_CHECKPOINT_SIGNED"); len(ev) != 2 {
		t.Errorf("E_CHECKPOINT_SIGNED events: %d, want 2", len(ev))
	}
}

// TestExactFieldFilters checks the API's ip, cert_serial and policy
// filters: each matches its field exactly, never a value that only shares
// its words.
func TestExactFieldFilters(t *testing.T) {
	env := newTestEnv(t)
	env.appendEvents(
		`{"type":"CERT_USED","actor":{"id":"alice","ip":"10.0.8.89"},"certificate":{"serial":"4F:2A:10"},"policy":"code-signing-prod"}`,
		`{"type":"CERT_USED","actor":{"id":"bob","ip":"10.8.0.89"},"certificate":{"serial":"4F:2A:10:00"},"policy":"code-signing-prod-eu"}`,
	)
	for _, q := range []string{"ip=10.0.8.89", "cert_serial=4F:2A:10", "policy=code-signing-prod"} {
		r := env.list(q, "admin/read")
		if len(r.Events) != 1 || r.Events[0].Actor.ID != "alice" {
			t.Errorf("%s: got %+v, want alice's event alone", q, r.Events)
		}
	}
}

// TestAuditClickFiltersExactly: on /audit the entity and actor-type cells
// filter by their own fields, exactly: entity 1 never finds entity 10 or
// 11, nor job 1, nor an event that only mentions the value; the form keeps
// those filters, and the API has them too.
func TestAuditClickFiltersExactly(t *testing.T) {
	env := newTestEnv(t)
	ids := env.appendEvents(
		`{"category":"AUDIT_LOG","type":"CERTIFICATE_UPLOADED","actor":{"type":"USER","id":"alice"},"entity":{"type":"CERTIFICATE","id":"1"}}`,
		`{"category":"AUDIT_LOG","type":"CERTIFICATE_UPLOADED","actor":{"type":"USER","id":"alice"},"entity":{"type":"CERTIFICATE","id":"10"},"message":"certificate 1 of 10"}`,
		`{"category":"AUDIT_LOG","type":"CERTIFICATE_UPLOADED","actor":{"type":"SYSTEM","id":"scheduler"},"entity":{"type":"CERTIFICATE","id":"11"}}`,
		`{"category":"AUDIT_LOG","type":"RENEWAL_INITIATED","actor":{"type":"AGENT","id":"SYSTEM"},"entity":{"type":"JOB","id":"1"},"message":"for CERTIFICATE 1"}`,
	)
	cookie := env.session("auditor")
	page := readBody(t, env.do(http.MethodGet, "/audit", cookie, "", nil))
	// follow returns the rows of the page a row's filter link leads to.
	follow := func(rowID int64, text string) ([]string, string) {
		t.Helper()
		row := regexp.MustCompile(`(?s)data-id="` + strconvI(rowID) + `".*?</tr>`).FindString(page)
		m := regexp.MustCompile(`<a class="filter" href="([^"]+)"[^>]*>` + regexp.QuoteMeta(text) + `</a>`).FindStringSubmatch(row)
		if m == nil {
			t.Fatalf("row %d has no filter link %q:\n%s", rowID, text, row)
		}
		href := strings.ReplaceAll(m[1], "&amp;", "&")
		return rowIDs(readBody(t, env.do(http.MethodGet, href, cookie, "", nil))), href
	}
	for _, tc := range []struct {
		name  string
		row   int64
		text  string
		want  []int64
		param string
	}{
		{"EntityID", ids[0], "1", []int64{ids[0]}, "entity_id=1"},
		{"EntityType", ids[0], "CERTIFICATE", []int64{ids[2], ids[1], ids[0]}, "entity_type=CERTIFICATE"},
		{"ActorType", ids[2], "SYSTEM", []int64{ids[2]}, "actor_type=SYSTEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, href := follow(tc.row, tc.text)
			var want []string
			for _, id := range tc.want {
				want = append(want, strconvI(id))
			}
			if !slices.Equal(got, want) || !strings.Contains(href, tc.param) {
				t.Errorf("%s lists %v, want %v", href, got, want)
			}
			filtered := readBody(t, env.do(http.MethodGet, href, cookie, "", nil))
			name, value, _ := strings.Cut(tc.param, "=")
			if !strings.Contains(filtered, `name="`+name+`" value="`+value+`"`) {
				t.Errorf("the form of %s does not keep %s", href, tc.param)
			}
		})
	}
	for q, want := range map[string]int{
		"entity_type=CERTIFICATE&entity_id=1": 1, "entity_id=1": 2, "actor_type=SYSTEM": 1, "entity_type=JOB&actor_type=AGENT": 1,
	} {
		if r := env.list("category=AUDIT_LOG&"+q, "auditor/read"); len(r.Events) != want {
			t.Errorf("API %s: %d events, want %d", q, len(r.Events), want)
		}
	}
}
