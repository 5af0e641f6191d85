package handlers

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestStaticCachedAndPagesCompressed: a console asset carries an ETag and
// answers 304 to a browser that already holds it; pages and assets go
// gzip-compressed to a browser that asks, API answers do not.
func TestStaticCachedAndPagesCompressed(t *testing.T) {
	env := newTestEnv(t)
	get := func(path string, h http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, env.url+path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		// The transport must not add Accept-Encoding and decode behind
		// the test's back.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	const css = "/static/css/vigil.css"
	first := get(css, nil)
	etag := first.Header.Get("ETag")
	if first.StatusCode != 200 || etag == "" || first.Header.Get("Cache-Control") == "" {
		t.Fatalf("%s: %d, ETag %q, Cache-Control %q; want 200 with both", css, first.StatusCode, etag, first.Header.Get("Cache-Control"))
	}
	if again := get(css, http.Header{"If-None-Match": {etag}}); again.StatusCode != http.StatusNotModified {
		t.Errorf("%s with If-None-Match %s: %d, want 304", css, etag, again.StatusCode)
	}
	if missing := get("/static/../views/pages/events.html", nil); missing.StatusCode != http.StatusNotFound {
		t.Errorf("a path out of static/: %d, want 404", missing.StatusCode)
	}
	for _, path := range []string{"/login", css} {
		resp := get(path, http.Header{"Accept-Encoding": {"gzip"}})
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: Content-Encoding %q, want gzip", path, resp.Header.Get("Content-Encoding"))
			continue
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(zr)
		if len(b) == 0 || (path == "/login" && !strings.Contains(string(b), "password")) {
			t.Errorf("%s: gzip body of %d bytes does not hold the page", path, len(b))
		}
	}
	if resp := get("/healthz", http.Header{"Accept-Encoding": {"gzip"}}); resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("/healthz compressed: %q", resp.Header.Get("Content-Encoding"))
	}
}
