package checks

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"vigil/internal/testpki"
	"vigil/model"
)

// TestDeployDialsOnlyAllowedNetworks runs deployment validation under
// --endpoint-networks. Only 127.0.0.1 listeners are involved: an allowed
// address is dialled and validated; a refused one, given as an address or
// as a name that resolves to it, fails with the reason and the listener
// sees no connection, because the refusal comes before the connect.
func TestDeployDialsOnlyAllowedNetworks(t *testing.T) {
	now := time.Now()
	ca := testpki.NewCA(t)
	cert := ca.Issue(t, "localhost", []string{"localhost", "127.0.0.1"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	cases := []struct {
		name, networks, host string
		wantStatus           string
		wantReason           string
		wantConns            bool
	}{
		{"AllowedAddress", "127.0.0.0/8", "127.0.0.1", model.JobSuccess, "", true},
		{"AllowedName", "127.0.0.1", "localhost", model.JobSuccess, "", true},
		{"DefaultAllowsLoopback", "", "127.0.0.1", model.JobSuccess, "", true},
		{"RefusedAddress", "10.0.0.0/8", "127.0.0.1", model.JobFailed, "address 127.0.0.1 not allowed by --endpoint-networks (10.0.0.0/8)", false},
		{"RefusedName", "10.0.0.0/8,2001:db8::/32", "localhost", model.JobFailed, "not allowed by --endpoint-networks (10.0.0.0/8,2001:db8::/32)", false},
		{"RefusedMappedAddress", "10.0.0.0/8", "::ffff:127.0.0.1", model.JobFailed, "address 127.0.0.1 not allowed", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.host == "localhost" {
				if addrs, err := net.DefaultResolver.LookupHost(ctx, "localhost"); err != nil || len(addrs) == 0 {
					t.Skipf("localhost does not resolve here: %v", err)
				}
			}
			nets, err := model.ParseEndpointNetworks(tc.networks)
			if err != nil {
				t.Fatal(err)
			}
			st := openStore(t, now)
			srv := testpki.StartCountingTLS(t, cert)
			// Stored directly, as an endpoint registered before the
			// networks were narrowed would be.
			ep, err := st.AddEndpoint(ctx, model.Endpoint{Host: tc.host, Port: srv.Port, ServerName: "localhost"}, model.UserActor("t"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(Config{ExpiryDays: []int{30}, AgentOfflineAfter: time.Minute, JobStuckAfter: time.Hour,
				DialTimeout: 5 * time.Second, EndpointNetworks: nets},
				st, nil, fixedClock{now}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.RunCheck(ctx, CheckDeploy); err != nil {
				t.Fatal(err)
			}
			jobs, _, err := st.FindJobs(ctx, model.JobFilter{Type: model.JobDeploymentValidation})
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) != 1 || jobs[0].EndpointID != ep.ID || jobs[0].Status != tc.wantStatus || !strings.Contains(jobs[0].Error, tc.wantReason) {
				t.Fatalf("jobs %+v, want one %s saying %q", jobs, tc.wantStatus, tc.wantReason)
			}
			eps, err := st.ListEndpoints(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(eps[0].LastError, tc.wantReason) {
				t.Errorf("endpoint last_error %q, want %q", eps[0].LastError, tc.wantReason)
			}
			if got := srv.Accepted.Load(); (got > 0) != tc.wantConns {
				t.Errorf("listener accepted %d connections; want any: %v", got, tc.wantConns)
			}
		})
	}
}

// TestDialFailureSaysNoMore: a closed port and a port that accepts but
// does not speak TLS fail with the same recorded reason, so the record
// does not tell an open port from a closed one.
func TestDialFailureSaysNoMore(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	st := openStore(t, now)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	go func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
			c.Close()
		}
	}()
	for _, port := range []int{closedPort, plain.Addr().(*net.TCPAddr).Port} {
		if _, err := st.AddEndpoint(ctx, model.Endpoint{Host: "127.0.0.1", Port: port}, model.UserActor("t")); err != nil {
			t.Fatal(err)
		}
	}
	s := newScheduler(t, st, nil, now)
	if _, err := s.RunCheck(ctx, CheckDeploy); err != nil {
		t.Fatal(err)
	}
	eps, err := st.ListEndpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps {
		want := "cannot connect to " + ep.Addr() + ": no TLS service answered (the server log has the cause)"
		if ep.LastStatus != "FAILED" || ep.LastError != want {
			t.Errorf("endpoint %s: %s %q, want FAILED %q", ep.Addr(), ep.LastStatus, ep.LastError, want)
		}
	}
}
