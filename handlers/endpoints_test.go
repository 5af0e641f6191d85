package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"vigil/model"
)

// TestConsoleEndpointNetworks registers endpoints from the Certificates
// page under --endpoint-networks 10.0.0.0/8: an address outside it, or a
// metadata address, is refused with 400 naming it; one inside, or a host
// name (checked when dialled), is registered. Nothing is dialled here.
func TestConsoleEndpointNetworks(t *testing.T) {
	nets, err := model.ParseEndpointNetworks("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t, withConfig(Config{EndpointNetworks: nets}))
	cookie := env.session(model.RoleOperator)
	for _, tc := range []struct {
		host string
		want int
		says string
	}{
		{"127.0.0.1", 400, "address 127.0.0.1 not allowed by --endpoint-networks (10.0.0.0/8)"},
		{"169.254.169.254", 400, "169.254.0.0/16 (IPv4 link-local and cloud metadata) is never dialled"},
		{"10.20.30.40", 303, "Endpoint registered"},
		{"tls.internal.example.test", 303, "Endpoint registered"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			form := url.Values{"host": {tc.host}, "port": {"443"}, "back": {"/certificates"}}
			resp := env.do(http.MethodPost, "/endpoints", cookie, form.Encode(), nil)
			body := readBody(t, resp)
			if resp.StatusCode != tc.want {
				t.Fatalf("got %d, want %d:\n%s", resp.StatusCode, tc.want, body)
			}
			if resp.StatusCode == http.StatusSeeOther {
				body = readBody(t, env.do(http.MethodGet, resp.Header.Get("Location"), cookie, "", nil))
			}
			if !strings.Contains(body, tc.says) {
				t.Errorf("page does not say %q:\n%s", tc.says, body)
			}
		})
	}
	eps, err := env.st.ListEndpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2 || eps[0].Host != "10.20.30.40" || eps[1].Host != "tls.internal.example.test" {
		t.Errorf("endpoints stored: %+v", eps)
	}
}
