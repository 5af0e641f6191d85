package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"vigil/internal/testpki"
	"vigil/model"
)

// certPages is seedWatch (certificate 1 expiring in 5 days, 2 far off, 3
// expired, endpoint 1 expecting certificate 1) with what the detail pages
// gather: the issuing CA in the inventory (certificate 4), endpoint 1 last
// seen serving certificate 1 with a failed validation job and its alert,
// and usage events naming certificate 1's serial and another one's.
type certPages struct {
	env            *testEnv
	cert, other    model.Certificate
	ca             model.Certificate
	usedID, elseID int64 // usage events naming cert, and another certificate
	deployJob      int64
}

func seedCertPages(t *testing.T, env *testEnv) certPages {
	t.Helper()
	ctx := context.Background()
	seedWatch(t, env)
	p := certPages{env: env}
	var err error
	if p.cert, err = env.st.CertificateByID(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if p.other, err = env.st.CertificateByID(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// seedWatch's certificates come from a CA of their own; it is the one
	// whose subject is their issuer.
	ca := testpki.NewCA(t)
	caCert := model.CertificateFromX509(ca.Cert)
	issued := model.CertificateFromX509(ca.Issue(t, "www.example.test", []string{"www.example.test"}, time.Now().Add(-time.Hour), time.Now().Add(60*24*time.Hour)).X509)
	added, err := env.st.AddCertificates(ctx, []model.Certificate{caCert, issued}, model.CertSourceUpload, model.UserActor("admin"))
	if err != nil {
		t.Fatal(err)
	}
	p.ca, p.cert = added[0].Certificate, added[1].Certificate // the new www replaces certificate 1
	if err := env.st.RecordEndpointCheck(ctx, 1, time.Now(), "FAILED", "10.0.4.12:443 serves certificate www.example.test, not the expected one", p.cert.Fingerprint); err != nil {
		t.Fatal(err)
	}
	done := time.Now()
	j, _, err := env.st.CreateJob(ctx, model.Job{Type: model.JobDeploymentValidation, Status: model.JobFailed, EndpointID: 1,
		CertificateID: p.cert.ID, Name: "Validate deployment on 10.0.4.12:443", TriggeredBy: model.SchedulerActor,
		ScheduledAt: done, StartedAt: &done, CompletedAt: &done, Error: "not the expected one"})
	if err != nil {
		t.Fatal(err)
	}
	p.deployJob = j.ID
	for _, a := range []model.Alert{
		{Severity: model.SeverityError, Type: model.AlertDeploymentFailed, Title: "Deployment validation failed on 10.0.4.12:443",
			Key: "DEPLOYMENT_FAILED:endpoint:1", Entity: model.Entity{Type: "ENDPOINT", ID: "1"}},
		{Severity: model.SeverityWarn, Type: model.AlertExpiringSoon, Title: "Certificate www.example.test (new) expires within 7 days",
			Key: "new", Entity: model.Entity{Type: "CERTIFICATE", ID: fmt.Sprint(p.cert.ID)}},
	} {
		if _, _, err := env.st.RaiseAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	ids := env.appendEvents(
		fmt.Sprintf(`{"type":"CERT_USED","outcome":"ALLOWED","category":"USAGE","agent_id":"agent-a","process":"nginx","certificate":{"serial":%q},"message":"used by nginx"}`, p.cert.Serial),
		fmt.Sprintf(`{"type":"CERT_USED","outcome":"ALLOWED","category":"USAGE","agent_id":"agent-a","process":"curl","certificate":{"serial":%q},"message":"used by curl"}`, p.other.Serial),
	)
	p.usedID, p.elseID = ids[0], ids[1]
	return p
}

// page gets path in the console as role and returns the status and body.
func (p certPages) page(t *testing.T, role, path string) (int, string) {
	t.Helper()
	resp := p.env.do("GET", path, p.env.session(role), "", nil)
	return resp.StatusCode, readBody(t, resp)
}

// TestCertificateAndEndpointPages: a certificate's page shows its fields,
// PEM, chain, days left, where it is served, the jobs, alerts and usage
// events about it (the audit trail only to roles that see the Audit log);
// an endpoint's page shows its last check, what it serves and its jobs and
// alerts. Alert entities, inventory and endpoint rows, a job's certificate
// and endpoint and an event's entity link to those pages.
func TestCertificateAndEndpointPages(t *testing.T) {
	env := newTestEnv(t)
	p := seedCertPages(t, env)
	certURL := fmt.Sprintf("/certificates/%d", p.cert.ID)
	has := func(t *testing.T, what, body string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", what, w)
			}
		}
	}
	hasNot := func(t *testing.T, what, body string, unwanted ...string) {
		t.Helper()
		for _, w := range unwanted {
			if strings.Contains(body, w) {
				t.Errorf("%s has %q", what, w)
			}
		}
	}

	t.Run("Certificate", func(t *testing.T) {
		for _, role := range model.Roles {
			status, body := p.page(t, role, certURL)
			if status != http.StatusOK {
				t.Fatalf("%s as %s: %d", certURL, role, status)
			}
			has(t, certURL+" as "+role, body,
				"www.example.test", p.cert.Serial, p.cert.Fingerprint, "-----BEGIN CERTIFICATE-----", `id="days-left"`,
				// chain: the CA in the inventory
				fmt.Sprintf(`href="/certificates/%d"`, p.ca.ID), "Vigil Test CA",
				// served by endpoint 1, which expects certificate 1
				`href="/endpoints/1"`,
				// jobs, alerts and usage events about it
				fmt.Sprintf(`href="/jobs/%d"`, p.deployJob), "(new) expires within 7 days",
				fmt.Sprintf(`href="/events/%d"`, p.usedID), "used by nginx",
				`href="/events?cert_serial=`+p.cert.Serial+`"`)
			hasNot(t, certURL+" as "+role, body,
				fmt.Sprintf(`href="/events/%d"`, p.elseID), "used by curl", "has expired", "Revoke old.example.test")
		}
		// The audit trail of the certificate: to roles that see /audit.
		_, body := p.page(t, model.RoleOperator, certURL)
		has(t, "operator's certificate page", body, "CERTIFICATE_UPLOADED", `href="/audit?cert_serial=`+p.cert.Serial+`"`)
		_, body = p.page(t, model.RoleViewer, certURL)
		hasNot(t, "viewer's certificate page", body, "CERTIFICATE_UPLOADED", `/audit`)

		// Certificate 1 was replaced by the new one, and says so.
		_, body = p.page(t, model.RoleViewer, "/certificates/1")
		has(t, "replaced certificate's page", body, "Renew www.example.test", "expires within 7 days", certURL)
	})

	t.Run("Endpoint", func(t *testing.T) {
		status, body := p.page(t, model.RoleViewer, "/endpoints/1")
		if status != http.StatusOK {
			t.Fatalf("/endpoints/1: %d", status)
		}
		has(t, "/endpoints/1", body, "10.0.4.12:443", "www.example.test", "not the expected one",
			certURL, `href="/certificates/1"`, // serving the new one, expecting the old one
			fmt.Sprintf(`href="/jobs/%d"`, p.deployJob), "Deployment validation failed on 10.0.4.12:443")
		hasNot(t, "/endpoints/1", body, "(new) expires within 7 days", "Renew www.example.test")
	})

	t.Run("Links", func(t *testing.T) {
		_, body := p.page(t, model.RoleViewer, "/alerts")
		has(t, "/alerts", body, `href="/certificates/1"`, `href="/certificates/3"`, `href="/endpoints/1"`, certURL)
		_, body = p.page(t, model.RoleViewer, "/certificates?include_replaced=1")
		has(t, "/certificates", body, `href="/certificates/1"`, `href="/certificates/2"`, certURL, `href="/endpoints/1"`)
		_, body = p.page(t, model.RoleViewer, fmt.Sprintf("/jobs/%d", p.deployJob))
		has(t, "deployment job page", body, certURL, `href="/endpoints/1"`)
		// "All its jobs" and "All its alerts" list only those.
		_, body = p.page(t, model.RoleViewer, "/jobs?certificate_id=3")
		has(t, "/jobs?certificate_id=3", body, "Revoke old.example.test")
		hasNot(t, "/jobs?certificate_id=3", body, "Renew www.example.test", "Validate deployment")
		_, body = p.page(t, model.RoleViewer, "/alerts?entity_type=ENDPOINT&entity_id=1")
		has(t, "the endpoint's alerts", body, "Deployment validation failed on 10.0.4.12:443")
		hasNot(t, "the endpoint's alerts", body, "expires within 7 days", "has expired")
		// The upload's audit event names the certificate as its entity.
		page, err := env.st.FindEvents(context.Background(), model.EventFilter{Type: "CERTIFICATE_UPLOADED", CertSerial: p.cert.Serial, Limit: 1, Visibility: model.VisibilityFor(env.users[model.RoleAdmin])})
		if err != nil || len(page.Events) != 1 {
			t.Fatalf("upload event: %v %+v", err, page.Events)
		}
		_, body = p.page(t, model.RoleOperator, fmt.Sprintf("/events/%d", page.Events[0].ID))
		has(t, "the upload event's detail", body, certURL)
	})

	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			want int
		}{
			{"/certificates/99", http.StatusNotFound},
			{"/certificates/abc", http.StatusBadRequest},
			{"/endpoints/99", http.StatusNotFound},
		} {
			if status, _ := p.page(t, model.RoleViewer, tc.path); status != tc.want {
				t.Errorf("%s: %d, want %d", tc.path, status, tc.want)
			}
		}
		// A token, even one that reads certificates through the API, does
		// not open console pages; nor does someone not signed in.
		header := http.Header{"Authorization": {"Bearer " + env.token(model.RoleAdmin, model.ScopeRead)}}
		for _, path := range []string{certURL, "/endpoints/1"} {
			if resp := env.do("GET", path, "", "", header); resp.StatusCode == http.StatusOK {
				t.Errorf("%s with a read token: %d", path, resp.StatusCode)
			}
			if resp := env.do("GET", path, "", "", nil); resp.StatusCode == http.StatusOK || strings.Contains(readBody(t, resp), p.cert.Fingerprint) {
				t.Errorf("%s signed out: %d", path, resp.StatusCode)
			}
		}
	})
}
