package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestTrustedProxiesFlag(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, value, want string }{
		{"BadNetwork", "10.0.0.0/33", `--trusted-proxies: "10.0.0.0/33" is not a CIDR network`},
		{"HostName", "127.0.0.1,proxy.example", `--trusted-proxies: "proxy.example" is not an IP address or a CIDR network`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := vigil(t, "", "serve", "--data", dir, "--http", "", "--trusted-proxies", tc.value)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, out %q, err %q; want exit 2 saying %q", code, out, errOut, tc.want)
			}
		})
	}

	// Set from the environment, the proxy on 127.0.0.1 tells the client's
	// address and scheme.
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	t.Setenv("VIGIL_TRUSTED_PROXIES", "127.0.0.1")
	base, stop := serve(t, dir)
	defer stop()
	form := url.Values{"username": {"admin"}, "password": {"first-admin-password"}, "next": {"/"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	session := sessionCookieOf(resp)
	if resp.StatusCode != http.StatusSeeOther || session == nil || !session.Secure {
		t.Fatalf("sign-in through the proxy over HTTPS: %d, cookie %+v; want 303 and a Secure cookie", resp.StatusCode, session)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/api/v1/events?type=E_LOGIN_SUCCEEDED&category=AUTH", nil)
	req.AddCookie(&http.Cookie{Name: "vigil_session", Value: session.Value})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var list struct {
		Events []struct {
			Actor struct {
				IP string `json:"ip"`
			} `json:"actor"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Events) != 1 || list.Events[0].Actor.IP != "203.0.113.9" {
		t.Errorf("the sign-in's audit record: %s (%v); want actor ip 203.0.113.9", body, err)
	}
}
