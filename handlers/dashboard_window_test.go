package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"vigil/model"
)

// TestDashboardCaptionCountsExactlyTheLastDay: "N in the last 24 hours"
// counts the events of exactly the last 24 hours — not the whole hours the
// bars are drawn in, and not events dated after now — and its legend links
// list exactly what it counts.
func TestDashboardCaptionCountsExactlyTheLastDay(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	env, _ := newDashboardEnv(t, Config{}, now)
	var objs []string
	for _, at := range []time.Time{
		now.Add(-24*time.Hour - 10*time.Minute), // 12:20 yesterday: before the window
		now.Add(-23*time.Hour - 50*time.Minute), // 12:40 yesterday: in it, before the first whole hour
		now.Add(-23 * time.Hour),                // 13:30 yesterday
		now.Add(-time.Minute),                   // 12:29
		now.Add(20 * time.Minute),               // 12:50: dated after now
		now.Add(25 * time.Minute),               // 12:55: dated after now
	} {
		objs = append(objs, fmt.Sprintf(`{"message":"at %s","category":"USAGE","time":%q}`, at.Format(time.Kitchen), at.Format(time.RFC3339)))
	}
	env.appendEvents(objs...)
	_, page := env.dashboard(model.RoleAdmin, "")
	if !strings.Contains(page, "· 3 in the last 24 hours") {
		i := strings.Index(page, "Events per hour by category")
		t.Fatalf("events chart caption, want 3 in the last 24 hours:\n%s", page[i:min(len(page), i+300)])
	}
	href := legendHref(t, page, model.CategoryUsage)
	if n := env.countOnPage(model.RoleAdmin, href); n != 3 {
		t.Errorf("legend link %s lists %d events, want 3", href, n)
	}
}

// legendHref returns the link of the events chart's legend entry label.
func legendHref(t *testing.T, page, label string) string {
	t.Helper()
	i := strings.Index(page, `id="chart-events"`)
	if i < 0 {
		t.Fatal("no events chart")
	}
	page = page[i:]
	j := strings.Index(page, "</span>"+label+` <span class="muted">`)
	if j < 0 {
		t.Fatalf("no legend entry %s", label)
	}
	k := strings.LastIndex(page[:j], `href="`)
	return page[k+6 : k+6+strings.Index(page[k+6:], `"`)]
}

// TestIngestRateLinksToWhatItCounts: the ingest-rate card links to a
// listing of exactly the events it counts (received in the last 5
// minutes, every category).
func TestIngestRateLinksToWhatItCounts(t *testing.T) {
	now := time.Now().UTC()
	env, _ := newDashboardEnv(t, Config{}, now)
	var evs []model.Event
	for i, ago := range []time.Duration{20 * time.Minute, 10 * time.Minute, 6 * time.Minute, 4 * time.Minute, 3 * time.Minute, 2 * time.Minute, time.Minute} {
		cat := []string{model.CategoryUsage, model.CategoryAuth, model.CategoryAuditLog}[i%3]
		e, err := model.DecodeEvent([]byte(fmt.Sprintf(`{"message":"event %d","category":%q}`, i, cat)), now.Add(-ago))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if _, err := env.st.AppendEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	_, page := env.dashboard(model.RoleAdmin, "")
	if got := cardValue(t, page, "Ingest rate"); got != "0.8/min" {
		t.Fatalf("ingest rate %s, want 0.8/min (4 events in 5 minutes)", got)
	}
	m := regexp.MustCompile(`<a href="([^"]*)"><span class="value">[^<]*</span><span class="label">Ingest rate</span>`).FindStringSubmatch(page)
	if m == nil {
		i := strings.Index(page, "Ingest rate")
		t.Fatalf("no link on the ingest-rate card:\n%s", page[max(0, i-300):i+50])
	}
	href := html.UnescapeString(m[1])
	resp := env.do(http.MethodGet, href, env.session(model.RoleAdmin), "", nil)
	var listed struct{ Events []model.Event }
	if err := json.Unmarshal([]byte(readBody(t, resp)), &listed); err != nil || resp.StatusCode != http.StatusOK || len(listed.Events) != 4 {
		t.Errorf("the card links to %s, which lists %d events (%d, %v); want the 4 it counts", href, len(listed.Events), resp.StatusCode, err)
	}
}
