package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestServeConsole runs the appliance the way an operator does, with the
// console embedded in the binary, signs in and loads a page.
func TestServeConsole(t *testing.T) {
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	cfg, err := parseServeConfig([]string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--session-idle", "5m"})
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	cfg.Listening = func(name, a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, io.Discard) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not listen")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, cookie *http.Cookie) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, tc := range []struct{ name, path, has string }{
		{"LoginPage", "/login", `action="/login"`},
		{"Stylesheet", "/static/css/vigil.css", "--accent"},
		{"Htmx", "/static/vendor/htmx.min.js", "htmx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := get(tc.path, nil); resp.StatusCode != 200 || !strings.Contains(body, tc.has) {
				t.Errorf("%s: %d, has %q: %v", tc.path, resp.StatusCode, tc.has, strings.Contains(body, tc.has))
			}
		})
	}
	resp, err := client.PostForm(base+"/login", url.Values{"username": {"admin"}, "password": {"first-admin-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "vigil_session" {
			session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign-in: %d, cookie %v", resp.StatusCode, session)
	}
	if resp, body := get("/events", session); resp.StatusCode != 200 || !strings.Contains(body, "E_LOGIN_SUCCEEDED") {
		t.Errorf("/events after sign-in: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve returned %v", err)
	}
}
