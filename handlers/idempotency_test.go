package handlers

import (
	"encoding/json"
	"strings"
	"testing"
)

// postAs posts body as NDJSON with the token of key and decodes the answer.
func (e *testEnv) postAs(key, body string) (int, map[string]any) {
	e.t.Helper()
	code, b := e.api("POST", "/api/v1/events", key, "application/x-ndjson", []byte(body))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("response %d %q: %v", code, b, err)
	}
	return code, m
}

// TestEventIDScopedToToken checks that an event_id de-duplicates only the
// retries of the token that sent it, and that a retry with other content
// is refused whole with 409 naming the item.
func TestEventIDScopedToToken(t *testing.T) {
	e := newTestEnv(t)
	const first = `{"event_id":"web-01-0042","type":"CERT_USED","message":"signed"}`
	cases := []struct {
		name, key, body  string
		code             int
		accepted, dupes  int
		conflictIndex    int
		conflictMentions string
	}{
		{"First", "operator/ingest", first, 202, 1, 0, 0, ""},
		{"SameTokenRetry", "operator/ingest", first, 202, 0, 1, 0, ""},
		// No time: the receive time differs, the content does not. Key
		// order and spacing are not content either.
		{"SameTokenRetryReformatted", "operator/ingest", `{ "message": "signed", "type": "CERT_USED", "event_id": "web-01-0042" }`, 202, 0, 1, 0, ""},
		{"OtherTokenSameID", "admin/ingest", first, 202, 1, 0, 0, ""},
		{"SameTokenOtherContent", "operator/ingest",
			`{"event_id":"web-01-0043","message":"new"}` + "\n" + `{"event_id":"web-01-0042","type":"CERT_USED","message":"changed"}`,
			409, 0, 0, 1, "web-01-0042"},
		{"SameIDTwiceInBatchSameContent", "operator/ingest",
			`{"event_id":"b-1","message":"m"}` + "\n" + `{"event_id":"b-1","message":"m"}`, 202, 1, 1, 0, ""},
		{"SameIDTwiceInBatchOtherContent", "operator/ingest",
			`{"event_id":"c-1","message":"m"}` + "\n" + `{"event_id":"c-2","message":"m"}` + "\n" + `{"event_id":"c-1","message":"n"}`,
			409, 0, 0, 2, "c-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, m := e.postAs(c.key, c.body)
			if code != c.code {
				t.Fatalf("status %d %v, want %d", code, m, c.code)
			}
			if code == 202 {
				if m["accepted"] != float64(c.accepted) || m["duplicates"] != float64(c.dupes) {
					t.Fatalf("answer %v, want accepted %d duplicates %d", m, c.accepted, c.dupes)
				}
				return
			}
			items, _ := m["items"].([]any)
			if len(items) != 1 {
				t.Fatalf("answer %v, want one item named", m)
			}
			it := items[0].(map[string]any)
			if it["index"] != float64(c.conflictIndex) || !strings.Contains(it["reason"].(string), c.conflictMentions) {
				t.Errorf("item %v, want index %d naming %s", it, c.conflictIndex, c.conflictMentions)
			}
		})
	}
	// Stored: web-01-0042 once per token and b-1; nothing of a refused batch.
	got := map[string]int{}
	for _, ev := range e.list("limit=1000", "admin/read").Events {
		got[ev.EventID]++
	}
	want := map[string]int{"web-01-0042": 2, "b-1": 1}
	if len(got) != len(want) || got["web-01-0042"] != 2 || got["b-1"] != 1 {
		t.Errorf("stored event_ids %v, want %v", got, want)
	}
	if _, m := e.api("GET", "/metrics", "auditor/read", "", nil); !strings.Contains(string(m),
		`vigil_ingest_rejected_total{reason="conflict",source="http"} 2`) {
		t.Errorf("conflicts not counted in vigil_ingest_rejected_total")
	}
}
