package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestServeConsole runs the appliance the way an operator does, with the
// console embedded in the binary, signs in and loads a page.
func TestServeConsole(t *testing.T) {
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	base, stop := serve(t, t.TempDir())
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
	session := signIn(t, client, base, "first-admin-password")
	if resp, body := get("/events", session); resp.StatusCode != 200 || !strings.Contains(body, "E_LOGIN_SUCCEEDED") {
		t.Errorf("/events after sign-in: %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Errorf("serve returned %v", err)
	}
}

func TestSessionFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"Defaults", nil, true},
		{"Shorter", []string{"--session-idle", "5m", "--session-max-age", "1h"}, true},
		{"IdleZero", []string{"--session-idle", "0s"}, false},
		{"IdleBeyondMax", []string{"--session-idle", "2h", "--session-max-age", "1h"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServeConfig(append([]string{"--data", t.TempDir()}, tc.args...))
			if (err == nil) != tc.ok {
				t.Errorf("parse %v: %v", tc.args, err)
			}
		})
	}
}

// signIn signs the admin in at base with password, as the sign-in form
// does, and returns the session cookie.
func signIn(t *testing.T, client *http.Client, base, password string) *http.Cookie {
	t.Helper()
	resp, err := client.PostForm(base+"/login", url.Values{"username": {"admin"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	session := sessionCookieOf(resp)
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign-in at %s: %d, cookie %v", base, resp.StatusCode, session)
	}
	return session
}

// sessionCookieOf returns the session cookie resp sets, or nil.
func sessionCookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "vigil_session" {
			return c
		}
	}
	return nil
}
