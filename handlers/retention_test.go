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
