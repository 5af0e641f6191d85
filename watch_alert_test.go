package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"vigil/checks"
	"vigil/internal/testpki"
	"vigil/model"
)

// TestExpiryAlertAgreesWithDaysLeft: a certificate 4 days 23 hours from
// expiry has days_left 4; its alert says so in words, and the webhook
// payload (sent once its renewal is overdue) carries days_left and
// not_after, as when the alert was raised, and no delivery state.
func TestExpiryAlertAgreesWithDaysLeft(t *testing.T) {
	r := newWatchRig(t, 0)
	ca := testpki.NewCA(t)
	start := r.clock.Now()
	soon := ca.Issue(t, "soon.example.test", []string{"soon.example.test"}, start.Add(-80*day), start.Add(5*day-time.Hour))
	r.must(201, "POST", "/api/v1/certificates", r.tokens[model.RoleOperator], bundle(soon), nil)
	var cl struct {
		Certificates []struct {
			DaysLeft int `json:"days_left"`
		} `json:"certificates"`
	}
	r.must(200, "GET", "/api/v1/certificates", r.tokens[model.RoleViewer], "", &cl)
	if len(cl.Certificates) != 1 || cl.Certificates[0].DaysLeft != 4 {
		t.Fatalf("certificates: %+v", cl)
	}
	r.run(checks.CheckExpiry)
	// The alert is held while its renewal job is queued; once that job is
	// overdue the stuck-jobs check sends it.
	r.clock.Advance(61 * time.Minute)
	r.run(checks.CheckStuckJobs)
	exp := r.alerts("", model.AlertExpiringSoon)
	if len(exp) != 1 || !strings.Contains(exp[0].Message, "in 4 days 23 hours") {
		t.Fatalf("alert beside days_left 4: %+v", exp)
	}
	var body string
	for deadline := time.Now().Add(10 * time.Second); body == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r.hook.mu.Lock()
		if len(r.hook.bodies) > 0 {
			body = r.hook.bodies[0]
		}
		r.hook.mu.Unlock()
	}
	var p struct {
		Alert map[string]any `json:"alert"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("webhook payload %q: %v", body, err)
	}
	if p.Alert["days_left"] != 4.0 || p.Alert["not_after"] != soon.X509.NotAfter.UTC().Format(time.RFC3339) {
		t.Errorf("webhook payload lacks days_left 4 and not_after: %s", body)
	}
	if _, ok := p.Alert["delivery"]; ok {
		t.Errorf("webhook payload carries a delivery object: %s", body)
	}
}
