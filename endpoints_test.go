package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"vigil/checks"
	"vigil/internal/testpki"
	"vigil/model"
)

// TestEndpointTargetsNeverLinkLocal registers endpoints at link-local and
// cloud metadata addresses through the API: each is refused with 400
// naming the address, and none is stored. Nothing is dialled: the rig's
// scheduler runs checks only when told to.
func TestEndpointTargetsNeverLinkLocal(t *testing.T) {
	r := newWatchRig(t, 0)
	ops := r.tokens[model.RoleOperator]
	for _, host := range []string{
		"169.254.169.254", "169.254.0.23", "fe80::1", "fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254",
	} {
		t.Run(host, func(t *testing.T) {
			status, body := r.call("POST", "/api/v1/endpoints", ops, "application/json", `{"host":"`+host+`","port":443}`)
			if status != 400 || !strings.Contains(string(body), "not allowed by --endpoint-networks") {
				t.Errorf("POST /api/v1/endpoints at %s: %d %s, want 400 not allowed by --endpoint-networks", host, status, body)
			}
		})
	}
	var eps struct {
		Endpoints []model.Endpoint `json:"endpoints"`
	}
	r.must(200, "GET", "/api/v1/endpoints", ops, "", &eps)
	if len(eps.Endpoints) != 0 {
		t.Errorf("refused endpoints stored: %+v", eps.Endpoints)
	}
}

// TestEndpointNetworksFlag: --endpoint-networks (or VIGIL_ENDPOINT_NETWORKS)
// that is not a list of CIDR networks, or names a never-dialled range,
// stops vigil serve with a usage error naming the flag.
func TestEndpointNetworksFlag(t *testing.T) {
	for _, c := range []struct{ name, value, want string }{
		{"NotCIDR", "intranet", `--endpoint-networks: "intranet" is not a network in CIDR form`},
		{"HostBits", "10.1.0.0/8", "did you mean 10.0.0.0/8"},
		{"EmptyItem", "10.0.0.0/8,", "empty network"},
		{"MetadataRange", "169.254.0.0/16", "which endpoints may never point at"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := vigil(t, "", "serve", "--data", t.TempDir(), "--endpoint-networks", c.value)
			if code != 2 || !strings.Contains(out+errOut, c.want) {
				t.Fatalf("exit %d, %q %q; want exit 2 saying %q", code, out, errOut, c.want)
			}
		})
	}
	t.Setenv("VIGIL_ENDPOINT_NETWORKS", "10.0.0.0/8, fd12:3456::/32")
	cfg, err := parseServeConfig(nil)
	if err != nil || cfg.Watch.EndpointNetworks.String() != "10.0.0.0/8,fd12:3456::/32" {
		t.Errorf("VIGIL_ENDPOINT_NETWORKS: %q %v", cfg.Watch.EndpointNetworks, err)
	}
	t.Setenv("VIGIL_ENDPOINT_NETWORKS", "bogus")
	if _, err := parseServeConfig(nil); err == nil || !strings.Contains(err.Error(), `--endpoint-networks: "bogus"`) {
		t.Errorf("bad VIGIL_ENDPOINT_NETWORKS: %v", err)
	}
}

// TestEndpointNetworksAtCreationAndDial runs the API and the scheduler
// under --endpoint-networks 10.0.0.0/8 with a TLS server on 127.0.0.1: the
// address 127.0.0.1 is refused when registered; the name localhost is
// registered, and the deployment check refuses the address it resolves to
// without connecting, failing the job and raising the alert with that
// reason. Nothing outside 127.0.0.1 is registered, so nothing else can be
// dialled.
func TestEndpointNetworksAtCreationAndDial(t *testing.T) {
	if addrs, err := net.DefaultResolver.LookupHost(context.Background(), "localhost"); err != nil || len(addrs) == 0 {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	nets, err := model.ParseEndpointNetworks("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	r := newWatchRigNets(t, 0, nets)
	ops := r.tokens[model.RoleOperator]
	ca := testpki.NewCA(t)
	now := r.clock.Now()
	ep := testpki.StartCountingTLS(t, ca.Issue(t, "localhost", []string{"localhost"}, now.Add(-time.Hour), now.Add(90*day)))
	status, body := r.call("POST", "/api/v1/endpoints", ops, "application/json", fmt.Sprintf(`{"host":"127.0.0.1","port":%d}`, ep.Port))
	if status != 400 || !strings.Contains(string(body), "address 127.0.0.1 not allowed by --endpoint-networks (10.0.0.0/8)") {
		t.Fatalf("127.0.0.1 under 10.0.0.0/8: %d %s", status, body)
	}
	var named model.Endpoint
	r.must(201, "POST", "/api/v1/endpoints", ops, fmt.Sprintf(`{"host":"localhost","port":%d}`, ep.Port), &named)
	rep := r.run(checks.CheckDeploy)
	if !strings.Contains(rep.Summary, "1 failed") {
		t.Errorf("deploy run: %s", rep.Summary)
	}
	var jl struct {
		Jobs []model.Job `json:"jobs"`
	}
	r.must(200, "GET", "/api/v1/jobs?type=DEPLOYMENT_VALIDATION", r.tokens[model.RoleViewer], "", &jl)
	want := "address 127.0.0.1 not allowed by --endpoint-networks (10.0.0.0/8)"
	if len(jl.Jobs) != 1 || jl.Jobs[0].Status != model.JobFailed || !strings.Contains(jl.Jobs[0].Error, want) {
		t.Fatalf("jobs %+v, want one FAILED saying %q", jl.Jobs, want)
	}
	alerts := r.alerts("", model.AlertDeploymentFailed)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, want) {
		t.Errorf("alerts %+v, want one saying %q", alerts, want)
	}
	if n := ep.Accepted.Load(); n != 0 {
		t.Errorf("the TLS server saw %d connections, want none", n)
	}
}
