package handlers

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"vigil/model"
)

// signInVia signs in (or fails to, with a wrong password) as user,
// sending header as a reverse proxy would, and returns the answer's status
// and session cookie.
func (env *testEnv) signInVia(user, pw string, header http.Header) (int, *http.Cookie) {
	env.t.Helper()
	code, h, err := env.tryLogin(user, pw, "/", header)
	if err != nil {
		env.t.Fatal(err)
	}
	resp := http.Response{Header: h}
	return code, cookieOf(&resp)
}

func TestTrustedProxies(t *testing.T) {
	const client = "203.0.113.9"
	xff := func(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }
	https := http.Header{"X-Forwarded-For": {client}, "X-Forwarded-Proto": {"https"}}
	actorIP := func(env *testEnv, user string) string {
		t.Helper()
		db, err := openSQL(env.st.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var ip string
		if err := db.QueryRow(`SELECT actor_ip FROM events WHERE type = 'E_LOGIN_FAILED' AND actor_id = ? AND category = 'AUTH' ORDER BY id DESC LIMIT 1`, user).Scan(&ip); err != nil {
			t.Fatal(err)
		}
		return ip
	}
	sessionIP := func(env *testEnv, ck *http.Cookie) string {
		t.Helper()
		db, err := openSQL(env.st.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var ip string
		if err := db.QueryRow(`SELECT ip FROM sessions WHERE id_hash = ?`, model.TokenHash(ck.Value)).Scan(&ip); err != nil {
			t.Fatal(err)
		}
		return ip
	}

	t.Run("FromTrustedProxy", func(t *testing.T) {
		env := newTestEnv(t, withConfig(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}))
		// The client's address is the right-most one no trusted proxy
		// added; what the client itself put further left is ignored.
		for _, tc := range []struct{ name, xff string }{
			{"OneHop", client},
			{"TwoTrustedHops", client + ", 127.0.0.2"},
			{"ClientClaimsAnother", "198.51.100.1, " + client},
		} {
			if code, _ := env.signInVia("operator", "wrong-password-1", xff(tc.xff)); code != http.StatusUnauthorized {
				t.Fatalf("%s: %d", tc.name, code)
			}
			if ip := actorIP(env, "operator"); ip != client {
				t.Errorf("%s: X-Forwarded-For %q from a trusted proxy: audit IP %q, want %s", tc.name, tc.xff, ip, client)
			}
		}
		// The throttle counts by the client's address: the client's
		// failures pace the client, not the other users of the proxy.
		for range 7 {
			env.signInVia("nobody", "wrong-password-2", xff(client))
		}
		if code, _ := env.signInVia("auditor", password("auditor"), xff("203.0.113.10")); code != http.StatusSeeOther {
			t.Errorf("another client behind the proxy: %d", code)
		}
		if n := env.metric("vigil_console_logins_paced_total"); n != 0 {
			t.Errorf("another client behind the proxy was paced by the first one's failures (%v)", n)
		}
		if code, _ := env.signInVia("viewer", "wrong-password-3", xff(client)); code != http.StatusUnauthorized {
			t.Errorf("the client with 10 failures: %d", code)
		}
		if n := env.metric("vigil_console_logins_paced_total"); n != 1 {
			t.Errorf("the client with 10 failures was not paced (%v)", n)
		}
		// HTTPS at the proxy makes the cookie Secure; the session records
		// the client's address.
		code, ck := env.signInVia("auditor", password("auditor"), https)
		if code != http.StatusSeeOther || ck == nil || !ck.Secure {
			t.Fatalf("sign-in through the proxy over HTTPS: %d, cookie %+v; want Secure", code, ck)
		}
		if ip := sessionIP(env, ck); ip != client {
			t.Errorf("session address %q, want %s", ip, client)
		}
		if _, ck := env.signInVia("auditor", password("auditor"), http.Header{"X-Forwarded-Proto": {"http"}}); ck == nil || ck.Secure {
			t.Errorf("plain HTTP at the proxy: cookie %+v, want not Secure", ck)
		}
	})

	for name, cfg := range map[string]Config{
		"FromUntrustedPeer": {TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
		"NoTrustedProxies":  {},
	} {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, withConfig(cfg))
			env.signInVia("operator", "wrong-password-1", xff(client))
			if ip := actorIP(env, "operator"); ip != "127.0.0.1" {
				t.Errorf("X-Forwarded-For from a peer not trusted: audit IP %q, want the peer 127.0.0.1", ip)
			}
			code, ck := env.signInVia("auditor", password("auditor"), https)
			if code != http.StatusSeeOther || ck == nil || ck.Secure {
				t.Errorf("X-Forwarded-Proto https from a peer not trusted: %d, cookie %+v; want not Secure", code, ck)
			}
			if ip := sessionIP(env, ck); ip != "127.0.0.1" {
				t.Errorf("session address %q, want the peer 127.0.0.1", ip)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	for _, tc := range []struct{ name, in, want, err string }{
		{"None", "", "[]", ""},
		{"Networks", "10.0.0.0/8, 192.0.2.1 ,fd00::/8,::1", "[10.0.0.0/8 192.0.2.1/32 fd00::/8 ::1/128]", ""},
		{"HostBitsMasked", "10.1.2.3/8", "[10.0.0.0/8]", ""},
		{"MappedAddress", "::ffff:192.0.2.1", "[192.0.2.1/32]", ""},
		{"BadNetwork", "10.0.0.0/33", "", `"10.0.0.0/33" is not a CIDR network`},
		{"Name", "proxy.example", "", `"proxy.example" is not an IP address`},
		{"Port", "192.0.2.1:443", "", `"192.0.2.1:443" is not an IP address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTrustedProxies(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("ParseTrustedProxies(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != tc.want {
				t.Errorf("ParseTrustedProxies(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	px := &proxies{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	for _, tc := range []struct{ name, peer, xff, want string }{
		{"DirectNoHeader", "192.0.2.5:4000", "", "192.0.2.5"},
		{"UntrustedPeerHeaderIgnored", "192.0.2.5:4000", "198.51.100.1", "192.0.2.5"},
		{"TrustedPeerNoHeader", "10.0.0.1:4000", "", "10.0.0.1"},
		{"TrustedPeer", "10.0.0.1:4000", "198.51.100.1", "198.51.100.1"},
		{"SkipsTrustedHops", "10.0.0.1:4000", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"ClientWritesFurtherLeft", "10.0.0.1:4000", "203.0.113.66, 198.51.100.1", "198.51.100.1"},
		{"LoopbackNotTrustedByDefault", "127.0.0.1:4000", "198.51.100.1", "127.0.0.1"},
		{"IPv6", "[fd00::1]:4000", "[2001:db8::7]", "2001:db8::7"},
		{"Unreadable", "10.0.0.1:4000", "nonsense", "10.0.0.1"},
		{"AllTrusted", "10.0.0.1:4000", "10.0.0.3, 10.0.0.2", "10.0.0.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := px.clientIP(r); got != tc.want {
				t.Errorf("clientIP from %s with X-Forwarded-For %q = %s, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}
