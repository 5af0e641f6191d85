package handlers

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestEventMessageInBrowser: the three event logs show what happened, the
// message, in the row; a long one stays on one line, cut with an ellipsis,
// its full text in the cell's title.
func TestEventMessageInBrowser(t *testing.T) {
	env := newTestEnv(t)
	seedConsole(env)
	long := strings.TrimSpace(strings.Repeat("renewal of build-signing deferred until the change window opens; ", 12))
	ids := env.appendEvents(fmt.Sprintf(`{"type":"CERT_USED","outcome":"ALLOWED","actor":{"type":"USER","id":"long-message"},"message":%q}`, long))
	b := newBrowser(t)
	u := env.url
	b.do(t, 15*time.Second, signIn(u, "admin", password("admin")), chromedp.WaitVisible(chromedp.CSS("header.top .user")))

	// messages lists the message cells of the table as "text|title|visible".
	const messages = `[...document.querySelectorAll('#rows tr')].map(tr => {
		const td = tr.querySelector('td.message'); if (!td) return '';
		const r = td.getBoundingClientRect();
		return td.textContent.trim() + '|' + (td.title || '') + '|' + (r.width > 40 && r.right <= innerWidth);
	})`
	for _, p := range []struct{ path, header, want string }{
		{"/events", "Message", "signtool used build-signing"},
		{"/audit", "Message", "CA refused revocation"},
		{"/system", "Information", "Opened Events"},
	} {
		t.Run(strings.TrimPrefix(p.path, "/"), func(t *testing.T) {
			b.do(t, 10*time.Second, chromedp.Navigate(u+p.path), chromedp.WaitVisible(chromedp.ID("events-table")))
			headers := get(t, b, 5*time.Second, chromedp.Text(chromedp.CSS("#events-table thead")))
			if !strings.Contains(headers, p.header) {
				t.Errorf("%s headers %q lack %s", p.path, headers, p.header)
			}
			cells := get(t, b, 5*time.Second, chromedp.Evaluate[[]string](messages))
			found := false
			for _, c := range cells {
				found = found || c == p.want+"|"+p.want+"|true"
			}
			if !found {
				t.Errorf("%s: no row shows the message %q in view; message cells: %q", p.path, p.want, cells)
			}
		})
	}

	t.Run("LongMessageTruncates", func(t *testing.T) {
		b.do(t, 10*time.Second, chromedp.EmulateViewport(1366, 768), chromedp.Navigate(u+"/events"), chromedp.WaitVisible(chromedp.ID("events-table")))
		sel := fmt.Sprintf(`document.querySelector('tr[data-id="%d"] td.message')`, ids[0])
		title := get(t, b, 5*time.Second, chromedp.Evaluate[string](sel+`.title`))
		if title != long {
			t.Errorf("the cell's title is %q, want the whole message", title)
		}
		cut := get(t, b, 5*time.Second, chromedp.Evaluate[string](`(() => { const td = `+sel+`, s = getComputedStyle(td);
			return s.textOverflow + ' ' + (td.scrollWidth > td.clientWidth) + ' ' + Math.round(td.getBoundingClientRect().height); })()`))
		parts := strings.Fields(cut)
		if len(parts) != 3 || parts[0] != "ellipsis" || parts[1] != "true" {
			t.Errorf("long message: text-overflow, cut, height = %q; want ellipsis, cut on one line", cut)
		} else if h, _ := strconv.Atoi(parts[2]); h > 40 {
			t.Errorf("the long message's cell is %d px high, more than a line", h)
		}
		if w := get(t, b, 5*time.Second, chromedp.Evaluate[int](`document.querySelector('.table-wrap').scrollWidth - document.querySelector('.table-wrap').clientWidth`)); w > 0 {
			t.Errorf("at 1366 px the message column makes the table %d px wider than its frame", w)
		}
	})
}

// TestInfoRowsNeutralInBrowser: an info event's row looks like any row
// (no background, the text's own colour); severity shows as the marker of
// the warning and error rows, and as the badge of an alert.
func TestInfoRowsNeutralInBrowser(t *testing.T) {
	env := newTestEnv(t)
	seedConsole(env)
	seedWatch(t, env)
	b := newBrowser(t)
	u := env.url
	b.do(t, 15*time.Second, signIn(u, "admin", password("admin")), chromedp.WaitVisible(chromedp.CSS("header.top .user")),
		chromedp.Navigate(u+"/events"), chromedp.WaitVisible(chromedp.ID("events-table")))
	// Each row as "severity background colour marker", the colour that of
	// its message against the page's.
	rows := get(t, b, 5*time.Second, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#rows tr')].map(tr => {
		const s = getComputedStyle(tr), msg = getComputedStyle(tr.querySelector('td.message'));
		const ink = msg.color === getComputedStyle(document.body).color ? 'ink' : msg.color;
		const marker = getComputedStyle(tr.querySelector('td.seq')).boxShadow !== 'none' ? 'marker' : 'plain';
		return tr.className + ' ' + s.backgroundColor.replace(/ /g, '') + ' ' + ink.replace(/ /g, '') + ' ' + marker; })`))
	infos, warnings := 0, 0
	for _, r := range rows {
		switch sev := strings.Fields(r)[0]; sev {
		case "sev-info":
			infos++
			if r != "sev-info rgba(0,0,0,0) ink plain" {
				t.Errorf("an info row is %q, want no background, the page's text colour and no marker", r)
			}
		case "sev-warning":
			warnings++
			if !strings.HasSuffix(r, " marker") {
				t.Errorf("a warning row has no marker: %q", r)
			}
		}
	}
	if infos == 0 || warnings == 0 {
		t.Fatalf("rows %q: want info and warning rows", rows)
	}
	b.do(t, 10*time.Second, chromedp.Navigate(u+"/alerts"), chromedp.WaitVisible(chromedp.ID("alerts")))
	if bg := get(t, b, 5*time.Second, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#alerts .badge.sev-info')).backgroundColor`)); bg == "rgba(0, 0, 0, 0)" {
		t.Errorf("the INFO badge of an alert lost its colour")
	}
}
