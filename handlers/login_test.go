package handlers

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// tryLogin posts the sign-in form with header and returns the status and
// the Retry-After and Location headers; safe to call from any goroutine.
func (env *testEnv) tryLogin(name, pw, next string, header http.Header) (int, http.Header, error) {
	form := url.Values{"username": {name}, "password": {pw}, "next": {next}}
	req, err := http.NewRequest(http.MethodPost, env.url+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// One round trip, as a browser sees it: an http.Client would refuse a
	// Location it cannot parse before the test could look at it.
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return 0, nil, err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}

// metric returns the value of the sample named by series (name and labels
// exactly as exposed) in /metrics; 0 when absent.
func (env *testEnv) metric(series string) float64 {
	env.t.Helper()
	body := readBody(env.t, env.do(http.MethodGet, "/metrics", env.session("admin"), "", nil))
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		env.t.Fatalf("metric %s: %v", series, err)
	}
	return v
}

// offSite reports whether a browser following Location would leave the
// site: it drops tabs and newlines and reads \ as / before resolving.
func offSite(location string) bool {
	l := strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(location)
	u, err := url.Parse(l)
	if err != nil {
		return true
	}
	return u.Scheme != "" || u.Host != "" || !strings.HasPrefix(l, "/") || strings.HasPrefix(l, "//")
}

// TestNextStaysOnSite: next= only ever leads to a path of this site, after
// any number of decodings, through the sign-in form and for a browser that
// is signed in already.
func TestNextStaysOnSite(t *testing.T) {
	env := newTestEnv(t)
	hiddenNext := regexp.MustCompile(`name="next" value="([^"]*)"`)
	for _, tc := range []struct{ name, next string }{
		{"DoubleEncodedTab", "/%252509/evil.example/x"},
		{"EncodedTab", "/%2509/evil.example/x"},
		{"Tab", "/%09/evil.example/x"},
		{"Newline", "/%0A/evil.example/x"},
		{"EncodedSlash", "/%252F/evil.example/x"},
		{"Backslash", "/%5Cevil.example/x"},
		{"EncodedBackslash", "/%255Cevil.example/x"},
		{"SchemeRelative", "//evil.example/x"},
		{"Absolute", "https://evil.example/x"},
		{"EncodedAbsolute", "https%3A%2F%2Fevil.example/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Through the form: the page keeps next in a hidden field and
			// the sign-in redirects to it.
			page := readBody(t, env.do(http.MethodGet, "/login?next="+tc.next, "", "", nil))
			m := hiddenNext.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no hidden next on the sign-in page")
			}
			code, h, err := env.tryLogin("viewer", password("viewer"), html.UnescapeString(m[1]), nil)
			if err != nil || code != http.StatusSeeOther {
				t.Fatalf("sign-in: %d %v", code, err)
			}
			if loc := h.Get("Location"); offSite(loc) {
				t.Errorf("sign-in with next %q (form value %q) redirects off-site: Location %q", tc.next, m[1], loc)
			}
			// Signed in already: /login sends the browser on at once.
			req, err := http.NewRequest(http.MethodGet, env.url+"/login?next="+tc.next, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: env.session("viewer")})
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || offSite(loc) {
				t.Errorf("signed-in /login?next=%s: %d, Location %q", tc.next, resp.StatusCode, loc)
			}
		})
	}
}
