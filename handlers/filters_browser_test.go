package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestFilterFormInBrowser drives the events pages' filter form and
// click-to-filter links the way an operator does: an explicit category
// wins over the access-control box, a bad filter keeps the form and what
// was typed, every clickable value filters by its own field exactly, and
// the tenant is a field of the form that Filter keeps.
func TestFilterFormInBrowser(t *testing.T) {
	env := newTestEnv(t)
	env.appendEvents(
		`{"type":"CERT_USED","outcome":"ALLOWED","actor":{"id":"alice","ip":"10.0.8.89"},"certificate":{"serial":"4F:2A:10","subject":"CN=build-signing"},"policy":"code-signing-prod","tenant":"acme"}`,
		`{"type":"CERT_USED","outcome":"ALLOWED","actor":{"id":"bob","ip":"10.8.0.89"},"certificate":{"serial":"4F:2A:11","subject":"CN=build-signing-2"},"policy":"code-signing-prod-eu","tenant":"globex"}`,
		`{"category":"ACCESS_CONTROL","type":"ACCESS_CHECK","outcome":"ALLOWED","actor":{"id":"carol"}}`,
		`{"category":"AUDIT_LOG","type":"CERTIFICATE_UPLOADED","actor":{"type":"USER","id":"alice"},"entity":{"type":"CERTIFICATE","id":"1"}}`,
		`{"category":"AUDIT_LOG","type":"CERTIFICATE_UPLOADED","actor":{"type":"USER","id":"alice"},"entity":{"type":"CERTIFICATE","id":"10"},"message":"certificate 1 of 10"}`,
		`{"category":"AUDIT_LOG","type":"CERTIFICATE_UPLOADED","actor":{"type":"SYSTEM","id":"scheduler"},"entity":{"type":"CERTIFICATE","id":"11"}}`,
	)
	b := newBrowser(t)
	u := env.url
	b.do(t, 15*time.Second, signIn(u, "admin", password("admin")), chromedp.WaitVisible(chromedp.CSS("header.top .user")))
	count := func(t *testing.T) int { t.Helper(); return get(t, b, 5*time.Second, chromedp.Evaluate[int](rowCount)) }
	search := func(t *testing.T) string {
		t.Helper()
		return get(t, b, 5*time.Second, chromedp.Evaluate[string](`location.search`))
	}

	t.Run("CategoryAccessControlShown", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events"), chromedp.WaitVisible(chromedp.ID("f-category")),
			chromedp.SetValue(chromedp.ID("f-category"), "ACCESS_CONTROL"),
			leaving,
			chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
			until(loaded),
			chromedp.WaitVisible(chromedp.CSS(`#events-table`)))
		if n := count(t); n != 1 {
			t.Errorf("category ACCESS_CONTROL lists %d rows, want 1 (%s)", n, search(t))
		}
	})

	t.Run("BadFilterKeepsForm", func(t *testing.T) {
		for _, path := range []string{"/events?q=AND&actor=alice", "/events?limit=abc&actor=alice", "/audit?limit=abc&actor=alice", "/system?limit=abc&actor=alice"} {
			b.do(t, 10*time.Second, chromedp.Navigate(u+path), until(loaded), chromedp.WaitReady(chromedp.CSS("body")))
			if st := b.status(u + path); st != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", path, st)
			}
			has := get(t, b, 5*time.Second, chromedp.Evaluate[string](`(document.getElementById('f-actor')||{}).value + '|' +
				((document.querySelector('form.filters .filter-error')||{}).textContent||'').trim() + '|' + document.querySelectorAll('#events-table').length`))
			if path == "/events?q=AND&actor=alice" {
				b.screenshot(t, "events-bad-filter")
			}
			parts := strings.SplitN(has, "|", 3)
			if parts[0] != "alice" || parts[1] == "" || parts[2] != "1" {
				t.Errorf("%s: actor field %q, message %q, tables %s; want the form with alice, a message and an empty table", path, parts[0], parts[1], parts[2])
			}
		}
	})

	click := func(t *testing.T, page, text string) {
		t.Helper()
		b.do(t, 10*time.Second, chromedp.Navigate(u+page), chromedp.WaitVisible(chromedp.CSS(`#events-table`)),
			leaving,
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll("#events-table a.filter")].find(a => a.textContent.trim() === %q).click()`, text)),
			until(loaded),
			chromedp.WaitVisible(chromedp.CSS(`#events-table`)))
	}
	for _, v := range []string{"10.0.8.89", "CN=build-signing", "code-signing-prod"} {
		t.Run("ExactClick "+v, func(t *testing.T) {
			click(t, "/events", v)
			if n := count(t); n != 1 {
				t.Errorf("clicking %s lists %d rows, want 1 (%s)", v, n, search(t))
			}
			if strings.Contains(search(t), "q=") {
				t.Errorf("clicking %s made a text search: %s", v, search(t))
			}
		})
	}

	// On /audit, entity 1 is neither entity 10 nor 11, nor a message
	// naming it; SYSTEM is the actor type, not a word.
	for v, want := range map[string]int{"1": 1, "SYSTEM": 1} {
		t.Run("AuditExactClick "+v, func(t *testing.T) {
			click(t, "/audit", v)
			if n := count(t); n != want {
				t.Errorf("clicking %s on /audit lists %d rows, want %d (%s)", v, n, want, search(t))
			}
			if strings.Contains(search(t), "q=") {
				t.Errorf("clicking %s made a text search: %s", v, search(t))
			}
		})
	}

	t.Run("TenantField", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.Navigate(u+"/events?tenant=acme"), chromedp.WaitVisible(chromedp.CSS(`#events-table`)))
		val := get(t, b, 5*time.Second, chromedp.Evaluate[string](`(document.getElementById('f-tenant')||{}).value || ''`))
		if val != "acme" {
			t.Fatalf("tenant field holds %q, want acme", val)
		}
		b.do(t, 10*time.Second, leaving, chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
			until(loaded), chromedp.WaitVisible(chromedp.CSS(`#events-table`)))
		if s := search(t); !strings.Contains(s, "tenant=acme") {
			t.Errorf("Filter dropped the tenant: %s", s)
		}
		if n := count(t); n != 1 {
			t.Errorf("tenant acme lists %d rows, want 1", n)
		}
		b.screenshot(t, "events-tenant")
	})
}
