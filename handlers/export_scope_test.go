package handlers

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"vigil/internal/fixture"
	"vigil/store"
)

// exportIDs returns the ids of the rows of a CSV export.
func exportIDs(t *testing.T, body string) []string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) == 0 || recs[0][0] != "id" {
		t.Fatalf("not an export (%v):\n%s", err, body)
	}
	var ids []string
	for _, r := range recs[1:] {
		ids = append(ids, r[0])
	}
	return ids
}

// lastReport returns the details of the newest SYSTEM event of typ.
func (env *testEnv) lastReport(typ string) map[string]any {
	env.t.Helper()
	r := env.list("category=SYSTEM&type="+typ, "admin/read")
	if len(r.Events) == 0 {
		env.t.Fatalf("no %s event", typ)
	}
	var d map[string]any
	if err := json.Unmarshal(r.Events[0].Details, &d); err != nil {
		env.t.Fatal(err)
	}
	return d
}

// TestExportScope: the CSV export holds either the page shown (scope=page:
// its start index or cursor and max count) or every event of the filter
// (scope=all, the default), says which in a response header and its file
// name, and its E_REPORT_* events record the scope beside the filter.
func TestExportScope(t *testing.T) {
	env := newTestEnv(t)
	for i := 0; i < 5; i++ {
		env.appendEvents(`{"type":"CERT_USED","actor":{"id":"alice"}}`)
	}
	env.appendEvents(`{"type":"CERT_RENEWED","actor":{"id":"alice"}}`)
	auth := http.Header{"Authorization": {"Bearer " + env.key("auditor/read")}}
	for _, tc := range []struct {
		name, query string
		filters     string // filters_used
		ids         []string
		scope       string
		report      map[string]any
	}{
		{"Default", "type=CERT_USED&limit=2", "type=CERT_USED", []string{"5", "4", "3", "2", "1"}, "all", map[string]any{"scope": "all"}},
		{"All", "type=CERT_USED&scope=all&start=1&limit=2", "type=CERT_USED", []string{"5", "4", "3", "2", "1"}, "all", map[string]any{"scope": "all"}},
		{"PageByStart", "type=CERT_USED&scope=page&start=1&limit=2", "type=CERT_USED", []string{"4", "3"}, "page",
			map[string]any{"scope": "page", "start": float64(1), "limit": float64(2)}},
		{"PageByCursor", "type=CERT_USED&scope=page&before=3&limit=10", "type=CERT_USED", []string{"2", "1"}, "page",
			map[string]any{"scope": "page", "before": float64(3), "limit": float64(10)}},
		{"PageDefaultLimit", "actor=alice&scope=page", "actor=alice", []string{"6", "5", "4", "3", "2", "1"}, "page",
			map[string]any{"scope": "page", "start": float64(0), "limit": float64(100)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.do(http.MethodGet, "/api/v1/events.csv?"+tc.query, "", "", auth)
			body := readBody(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if got := exportIDs(t, body); !slices.Equal(got, tc.ids) {
				t.Errorf("rows %v, want %v", got, tc.ids)
			}
			if h := resp.Header.Get("Vigil-Export-Scope"); h != tc.scope {
				t.Errorf("Vigil-Export-Scope %q, want %q", h, tc.scope)
			}
			if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "vigil-events-"+tc.scope+"-") {
				t.Errorf("file name does not say the scope: %s", cd)
			}
			for _, typ := range []string{"E_REPORT_REQUESTED", "E_REPORT_GENERATED"} {
				d := env.lastReport(typ)
				for k, want := range tc.report {
					if d[k] != want {
						t.Errorf("%s details[%s] = %v, want %v (%v)", typ, k, d[k], want, d)
					}
				}
				if d["filters_used"] != tc.filters || d["username"] != "auditor" {
					t.Errorf("%s filters_used %v, username %v", typ, d["filters_used"], d["username"])
				}
			}
			if d := env.lastReport("E_REPORT_GENERATED"); d["number_of_records"] != float64(len(tc.ids)) {
				t.Errorf("number_of_records %v, want %d", d["number_of_records"], len(tc.ids))
			}
		})
	}
	if resp := env.do(http.MethodGet, "/api/v1/events.csv?scope=shown", "", "", auth); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(readBody(t, resp), "scope must be page or all") {
		t.Errorf("scope=shown: %d", resp.StatusCode)
	}
	// A viewer's page export holds only what it may see.
	env.appendEvents(`{"category":"AUDIT_LOG","type":"CERT_USED","actor":{"id":"alice"}}`)
	viewer := http.Header{"Authorization": {"Bearer " + env.key("viewer/read")}}
	resp := env.do(http.MethodGet, "/api/v1/events.csv?type=CERT_USED&scope=page&limit=1", "", "", viewer)
	if got := exportIDs(t, readBody(t, resp)); !slices.Equal(got, []string{"5"}) {
		t.Errorf("viewer's page export: %v", got)
	}
	if resp := env.do(http.MethodGet, "/api/v1/events.csv?category=AUDIT_LOG&scope=page", "", "", viewer); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer's page export of AUDIT_LOG: %d, want 403", resp.StatusCode)
	}
}

// TestConsoleExportsPageOrFilter: a log page offers the page it shows and
// the whole filter; the page's export holds exactly the rows shown, also
// once newer events have arrived.
func TestConsoleExportsPageOrFilter(t *testing.T) {
	env := newTestEnv(t)
	for i := 0; i < 6; i++ {
		env.appendEvents(`{"type":"CERT_USED","actor":{"id":"alice"}}`)
	}
	cookie := env.session("auditor")
	page := readBody(t, env.do(http.MethodGet, "/events?type=CERT_USED&start=1&limit=3", cookie, "", nil))
	shown := rowIDs(page)
	if !slices.Equal(shown, []string{"5", "4", "3"}) {
		t.Fatalf("page shows %v", shown)
	}
	href := func(id string) string {
		m := regexp.MustCompile(`id="` + id + `" href="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no #%s link on the page", id)
		}
		return strings.ReplaceAll(m[1], "&amp;", "&")
	}
	env.appendEvents(`{"type":"CERT_USED","actor":{"id":"alice"}}`) // arrives after the page was shown
	resp := env.do(http.MethodGet, href("export-page"), cookie, "", nil)
	if got := exportIDs(t, readBody(t, resp)); !slices.Equal(got, shown) || resp.Header.Get("Vigil-Export-Scope") != "page" {
		t.Errorf("page export %s: %v (%s), want %v", href("export-page"), got, resp.Header.Get("Vigil-Export-Scope"), shown)
	}
	resp = env.do(http.MethodGet, href("export"), cookie, "", nil)
	if got := exportIDs(t, readBody(t, resp)); len(got) != 7 || resp.Header.Get("Vigil-Export-Scope") != "all" {
		t.Errorf("filter export %s: %v", href("export"), got)
	}
	if !bytes.Contains([]byte(page), []byte(">Export page<")) || !bytes.Contains([]byte(page), []byte(">Export all<")) {
		t.Errorf("the export controls do not say what they hold")
	}
}

// TestConsoleExportsBundle: beside the CSV exports, a log page offers the
// filter as a bundle, which holds the filter's events, says it is not
// contiguous and verifies with the checkpoints' verifier key.
func TestConsoleExportsBundle(t *testing.T) {
	key := fixture.CheckpointKey(t, "bundle.example/vigil")
	env := newTestEnv(t, withConfig(Config{CheckpointKey: key}))
	for i := 0; i < 6; i++ {
		env.appendEvents(`{"type":"CERT_USED","actor":{"id":"alice"}}`, `{"type":"LOGIN","actor":{"id":"bob"}}`)
	}
	cookie := env.session("auditor")
	page := readBody(t, env.do(http.MethodGet, "/events?type=CERT_USED", cookie, "", nil))
	m := regexp.MustCompile(`id="export-bundle" href="([^"]+)"[^>]*>Export bundle<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no Export bundle link on the page")
	}
	href := strings.ReplaceAll(m[1], "&amp;", "&")
	resp := env.do(http.MethodGet, href, cookie, "", nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Vigil-Export-Scope") != "all" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), ".bundle.json") {
		t.Fatalf("bundle export %s: %d %v %.300s", href, resp.StatusCode, resp.Header, body)
	}
	rep, err := store.VerifyBundle(strings.NewReader(body), key.PublicKey())
	if err != nil || rep.Count != 6 || rep.Intact != 6 || rep.Contiguous {
		t.Fatalf("bundle of %s: %+v %v", href, rep, err)
	}
}
