package handlers

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestEventFieldsExportAndDetail pins the CSV export's columns and the
// detail view's field list, both drawn from model.EventFields: their
// names, order and values.
func TestEventFieldsExportAndDetail(t *testing.T) {
	env := newTestEnv(t)
	ids := env.appendEvents(`{"event_id":"ev-1","time":"2026-01-02T03:04:05.5+01:00","category":"AUTH","type":"LOGIN",
		"outcome":"DENIED","severity":"warning","actor":{"type":"USER","id":"alice","dn":"CN=alice","ip":"10.0.0.1"},
		"entity":{"type":"HOST","id":"web1"},"certificate":{"serial":"0a","fingerprint":"` + strings.Repeat("ab", 32) + `","subject":"CN=web1"},
		"agent_id":"agent-1","host":"web1","app":"sshd","process":"42","command":"login","policy":"p1","tenant":"t1",
		"message":"bad \u0000 password","details":{"k":"v"}}`)
	cookie := env.session("admin")

	resp := env.do("GET", "/api/v1/events.csv?type=LOGIN", cookie, "", nil)
	body := readBody(t, resp)
	header, row, _ := strings.Cut(body, "\r\n")
	const wantHeader = `"id","time","received_at","source","category","type","outcome","severity",` +
		`"actor_type","actor_id","actor_dn","actor_ip","entity_type","entity_id",` +
		`"cert_serial","cert_fingerprint","cert_subject","agent_id","host","app","process",` +
		`"command","policy","tenant","event_id","message","details","hash"`
	if resp.StatusCode != 200 || header != wantHeader {
		t.Fatalf("export %d, header\n%s\nwant\n%s", resp.StatusCode, header, wantHeader)
	}
	wantRow := fmt.Sprintf(`"%d","2026-01-02T03:04:05.5+01:00",`, ids[0])
	wantMid := `"http","AUTH","LOGIN","DENIED","warning","USER","alice","CN=alice","10.0.0.1","HOST","web1","0a","` +
		strings.Repeat("ab", 32) + `","CN=web1","agent-1","web1","sshd","42","login","p1","t1","ev-1","bad ` + "\x00" + ` password","{""k"":""v""}","`
	if !strings.HasPrefix(row, wantRow) || !strings.Contains(row, wantMid) {
		t.Errorf("row\n%s\nwant %s…%s", row, wantRow, wantMid)
	}

	resp = env.do("GET", fmt.Sprintf("/events/%d", ids[0]), cookie, "", http.Header{"Hx-Request": {"true"}})
	page, _, _ := strings.Cut(readBody(t, resp), "<h3>") // the fields, not the integrity
	var got []string
	for _, m := range regexp.MustCompile(`<dt>([^<]*)</dt><dd>(?:<a [^>]*>)?([^<]*)`).FindAllStringSubmatch(page, -1) {
		got = append(got, m[1]+"="+html.UnescapeString(m[2]))
	}
	want := []string{
		fmt.Sprintf("Sequence id=%d", ids[0]), "Event id=ev-1", "Time=2026-01-02T03:04:05.5+01:00",
		"Source=http", "Category=AUTH", "Type=LOGIN", "Outcome=DENIED", "Severity=warning",
		"Actor type=USER", "Actor id=alice", "Actor DN=CN=alice", "Actor IP=10.0.0.1",
		"Entity type=HOST", "Entity id=web1", "Certificate serial=0a",
		"Certificate fingerprint=" + strings.Repeat("ab", 32), "Certificate subject=CN=web1",
		"Agent=agent-1", "Host=web1", "App=sshd", "Process=42", "Command=login", "Policy=p1", "Tenant=t1",
		`Message=bad \x00 password`,
	}
	if resp.StatusCode != 200 || len(got) < 4 {
		t.Fatalf("detail %d: %s", resp.StatusCode, page)
	}
	// Received is the receive time: check its label, not its value.
	if !strings.HasPrefix(got[3], "Received=") {
		t.Errorf("fourth field %q, want Received", got[3])
	}
	got = append(got[:3:3], got[4:]...)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("detail fields\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
