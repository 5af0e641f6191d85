package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/checks"
	"vigil/internal/testpki"
	"vigil/model"
	"vigil/store"
)

// certThresholds is what the API says of a certificate's alert thresholds.
type certThresholds struct {
	ID         int64  `json:"id"`
	ExpiryDays []int  `json:"expiry_days"`
	Effective  []int  `json:"effective_expiry_days"`
	From       string `json:"expiry_days_from"`
}

// upload adds certs through the API and returns their inventory ids.
func (r *watchRig) upload(certs ...testpki.Issued) []int64 {
	r.t.Helper()
	var up struct {
		Certificates []store.AddedCertificate `json:"certificates"`
	}
	r.must(201, "POST", "/api/v1/certificates", r.tokens[model.RoleOperator], bundle(certs...), &up)
	var ids []int64
	for _, c := range up.Certificates {
		ids = append(ids, c.ID)
	}
	return ids
}

// deliveries waits until the receiver has accepted alert id at least n
// times (10 s at most) and returns how many times it has.
func (r *watchRig) deliveries(id int64, n int) int {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.hook.mu.Lock()
		got := r.hook.alerts[id]
		r.hook.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lastBody returns the last payload the receiver accepted for alert id.
func (r *watchRig) lastBody(id int64) map[string]any {
	r.t.Helper()
	r.hook.mu.Lock()
	defer r.hook.mu.Unlock()
	for i := len(r.hook.bodies) - 1; i >= 0; i-- {
		var p struct {
			Alert map[string]any `json:"alert"`
		}
		if err := json.Unmarshal([]byte(r.hook.bodies[i]), &p); err == nil && p.Alert["id"] == float64(id) {
			return p.Alert
		}
	}
	r.t.Fatalf("no payload for alert %d", id)
	return nil
}

// reminded returns the reminders of alert id and when the last was sent.
func (r *watchRig) reminded(id int64) (int, *time.Time) {
	r.t.Helper()
	var l struct {
		Alerts []struct {
			ID         int64      `json:"id"`
			Reminders  int        `json:"reminders"`
			RemindedAt *time.Time `json:"reminded_at"`
		} `json:"alerts"`
	}
	r.must(200, "GET", "/api/v1/alerts?limit=1000", r.tokens[model.RoleViewer], "", &l)
	for _, a := range l.Alerts {
		if a.ID == id {
			return a.Reminders, a.RemindedAt
		}
	}
	r.t.Fatalf("no alert %d", id)
	return 0, nil
}

// delivered waits until the one alert of type typ about entity (typ, id)
// is delivered (10 s at most) and returns it.
func (r *watchRig) delivered(typ, entityType string, id int64) model.Alert {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := r.alertAbout(typ, entityType, id)
		if a.Delivery.Status == model.DeliveryDelivered {
			return a
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("alert %d not delivered: %+v", a.ID, a.Delivery)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alertAbout returns the one alert of type typ about entity (typ, id).
func (r *watchRig) alertAbout(typ, entityType string, id int64) model.Alert {
	r.t.Helper()
	as := r.alerts(fmt.Sprintf("entity_type=%s&entity_id=%d", entityType, id), typ)
	if len(as) != 1 {
		r.t.Fatalf("%s alerts about %s %d: %+v", typ, entityType, id, as)
	}
	return as[0]
}

// TestExpiryThresholdsPerCertificateAndEndpoint: a certificate's own
// thresholds, or those of an endpoint that serves or expects it, replace
// --expiry-days for it; the certificate's own win; clearing them restores
// the default. Each change is audited; bad values are refused.
func TestExpiryThresholdsPerCertificateAndEndpoint(t *testing.T) {
	r := newWatchRig(t, 0)
	ca := testpki.NewCA(t)
	start := r.clock.Now()
	ops := r.tokens[model.RoleOperator]
	issue := func(cn string) testpki.Issued {
		return ca.Issue(t, cn, []string{cn}, start.Add(-300*day), start.Add(55*day))
	}
	own, viaEndpoint, cleared, ownWins, plain := issue("own.example.test"), issue("via.example.test"), issue("cleared.example.test"),
		issue("ownwins.example.test"), issue("plain.example.test")
	ids := r.upload(own, viaEndpoint, cleared, ownWins, plain)
	certPath := func(i int) string { return "/api/v1/certificates/" + strconv.FormatInt(ids[i], 10) }

	var ct certThresholds
	call := func(method, path, body string) certThresholds {
		t.Helper()
		var out certThresholds
		r.must(200, method, path, ops, body, &out)
		return out
	}
	ct = call("PUT", certPath(0)+"/expiry-days", `{"days":[60]}`)
	if !slices.Equal(ct.ExpiryDays, []int{60}) || !slices.Equal(ct.Effective, []int{60}) || ct.From != "certificate" {
		t.Errorf("after setting [60]: %+v", ct)
	}
	var ep, ep2 model.Endpoint
	r.must(201, "POST", "/api/v1/endpoints", ops, endpointBody(deadPort(t), "via.example.test", viaEndpoint.Fingerprint), &ep)
	var epOut struct {
		ExpiryDays []int `json:"expiry_days"`
	}
	r.must(200, "PUT", fmt.Sprintf("/api/v1/endpoints/%d/expiry-days", ep.ID), ops, `{"days":[30,60]}`, &epOut)
	if !slices.Equal(epOut.ExpiryDays, []int{60, 30}) {
		t.Errorf("endpoint thresholds: %+v", epOut)
	}
	ct = call("GET", certPath(1), "")
	if ct.ExpiryDays != nil || !slices.Equal(ct.Effective, []int{60, 30}) || ct.From != fmt.Sprintf("endpoint %d", ep.ID) {
		t.Errorf("certificate expected by the endpoint: %+v", ct)
	}
	r.must(200, "PUT", certPath(2)+"/expiry-days", ops, `{"days":[60]}`, nil)
	ct = call("PUT", certPath(2)+"/expiry-days", `{"days":null}`)
	if ct.ExpiryDays != nil || !slices.Equal(ct.Effective, []int{30, 14, 7, 1}) || ct.From != "default" {
		t.Errorf("after clearing: %+v", ct)
	}
	r.must(201, "POST", "/api/v1/endpoints", ops, endpointBody(deadPort(t), "ownwins.example.test", ownWins.Fingerprint), &ep2)
	r.must(200, "PUT", fmt.Sprintf("/api/v1/endpoints/%d/expiry-days", ep2.ID), ops, `{"days":[60]}`, nil)
	ct = call("PUT", certPath(3)+"/expiry-days", `{"days":[10]}`)
	if !slices.Equal(ct.Effective, []int{10}) || ct.From != "certificate" {
		t.Errorf("own thresholds beside an endpoint's: %+v", ct)
	}

	r.run(checks.CheckExpiry)
	got := map[string]bool{}
	for _, a := range r.alerts("", model.AlertExpiringSoon) {
		got[a.Key] = true
		if !strings.Contains(a.Message, own.X509.NotAfter.UTC().Format(time.RFC3339)) || !strings.Contains(a.Message, "55 days") {
			t.Errorf("alert text lacks the expiry date or the days left: %q", a.Message)
		}
	}
	want := map[string]bool{fmt.Sprintf("EXPIRING_SOON:cert:%d:60", ids[0]): true, fmt.Sprintf("EXPIRING_SOON:cert:%d:60", ids[1]): true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("EXPIRING_SOON alerts %v, want %v", got, want)
	}
	var jl struct {
		Jobs []model.Job `json:"jobs"`
	}
	r.must(200, "GET", "/api/v1/jobs?type=RENEWAL", r.tokens[model.RoleViewer], "", &jl)
	if len(jl.Jobs) != 2 {
		t.Errorf("renewal jobs %+v, want two", jl.Jobs)
	}
	// Clearing the endpoint's thresholds restores the default for the
	// certificate it expects.
	r.must(200, "PUT", fmt.Sprintf("/api/v1/endpoints/%d/expiry-days", ep.ID), ops, `{"days":[]}`, nil)
	ct = call("GET", certPath(1), "")
	if !slices.Equal(ct.Effective, []int{30, 14, 7, 1}) || ct.From != "default" {
		t.Errorf("after clearing the endpoint's: %+v", ct)
	}

	// Six changes, each an audit event naming the old and new values.
	evs := r.events("category=AUDIT_LOG&type=EXPIRY_DAYS_CHANGED")
	if len(evs) != 7 {
		t.Errorf("%d EXPIRY_DAYS_CHANGED events, want 7: %+v", len(evs), evs)
	}
	if len(evs) > 0 && (evs[0].Entity != model.EndpointEntity(ep.ID) || !strings.Contains(string(evs[0].Detail), `"old":[60,30]`)) {
		t.Errorf("latest change event: %+v %s", evs[0], evs[0].Detail)
	}

	for _, tc := range []struct {
		name, path, body string
		want             int
		says             string
	}{
		{"Zero", certPath(0), `{"days":[0]}`, 400, "between 1 and 3650"},
		{"TooMany days", certPath(0), `{"days":[4000]}`, 400, "between 1 and 3650"},
		{"Twice", certPath(0), `{"days":[30,30]}`, 400, "30 given twice"},
		{"NotAList", certPath(0), `{"days":"60"}`, 400, "days"},
		{"Missing", certPath(0), `{}`, 400, "days"},
		{"UnknownCertificate", "/api/v1/certificates/999", `{"days":[60]}`, 404, "certificate 999"},
		{"UnknownEndpoint", "/api/v1/endpoints/999", `{"days":[60]}`, 404, "endpoint 999"},
	} {
		status, body := r.call("PUT", tc.path+"/expiry-days", ops, "application/json", tc.body)
		if status != tc.want || !strings.Contains(string(body), tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, status, body, tc.want, tc.says)
		}
	}
	if ct = call("GET", certPath(0), ""); !slices.Equal(ct.ExpiryDays, []int{60}) {
		t.Errorf("a refused change altered the setting: %+v", ct)
	}
}

// TestRenewalInProgressHoldsExpiryAlert: an EXPIRING_SOON alert raised
// while a renewal job for its certificate is open says so and is not sent;
// it is sent once when the renewal fails or becomes overdue, and never
// when the renewal replaces the certificate. An EXPIRED alert is sent at
// once.
func TestRenewalInProgressHoldsExpiryAlert(t *testing.T) {
	r := newWatchRig(t, 0)
	ca := testpki.NewCA(t)
	start := r.clock.Now()
	issue := func(cn string, left time.Duration) testpki.Issued {
		return ca.Issue(t, cn, []string{cn}, start.Add(-80*day), start.Add(left))
	}
	fails, renewed, overdue, expired := issue("fails.example.test", 5*day), issue("renewed.example.test", 5*day),
		issue("overdue.example.test", 5*day), issue("expired.example.test", -day)
	ids := r.upload(fails, renewed, overdue, expired)
	var jl struct {
		Jobs []model.Job `json:"jobs"`
	}
	r.must(200, "GET", "/api/v1/jobs?type=RENEWAL&status=QUEUED", r.tokens[model.RoleViewer], "", &jl)
	jobOf := map[int64]int64{}
	for _, j := range jl.Jobs {
		jobOf[j.CertificateID] = j.ID
	}
	held := map[int64]model.Alert{}
	for _, id := range ids[:3] {
		a := r.alertAbout(model.AlertExpiringSoon, "CERTIFICATE", id)
		want := fmt.Sprintf("renewal job %d in progress", jobOf[id])
		if !strings.Contains(a.Message, want) || a.Delivery.Status != "held" {
			t.Errorf("alert of certificate %d: %q, delivery %+v; want %q and held", id, a.Message, a.Delivery, want)
		}
		held[id] = a
	}
	exp := r.alertAbout(model.AlertExpired, "CERTIFICATE", ids[3])
	if n := r.deliveries(exp.ID, 1); n != 1 {
		t.Fatalf("EXPIRED alert delivered %d times, want 1", n)
	}
	for id, a := range held {
		if n := r.deliveries(a.ID, 0); n != 0 {
			t.Errorf("alert of certificate %d delivered %d times while its renewal is queued", id, n)
		}
	}

	// The renewal of the first fails: its alert goes out, once.
	agent := r.tokens["agent"]
	var claimed model.Job
	r.must(200, "POST", "/api/v1/jobs/claim", agent, `{"agent_id":"agent-1"}`, &claimed)
	if claimed.ID != jobOf[ids[0]] {
		t.Fatalf("claimed job %d, want %d", claimed.ID, jobOf[ids[0]])
	}
	r.must(200, "POST", "/api/v1/jobs/"+jobID(claimed)+"/result", agent, `{"status":"FAILED","error":"CA offline"}`, nil)
	if n := r.deliveries(held[ids[0]].ID, 1); n != 1 {
		t.Errorf("alert of the failed renewal delivered %d times, want 1", n)
	}
	if a := r.delivered(model.AlertExpiringSoon, "CERTIFICATE", ids[0]); !strings.Contains(a.Message, "FAILED: CA offline") {
		t.Errorf("alert after the renewal failed: %q %+v", a.Message, a.Delivery)
	}

	// The renewal of the second replaces the certificate: never sent.
	r.must(200, "POST", "/api/v1/jobs/claim", agent, `{"agent_id":"agent-1"}`, &claimed)
	next := ca.Issue(t, "renewed.example.test", []string{"renewed.example.test"}, start, start.Add(90*day))
	r.must(200, "POST", "/api/v1/jobs/"+jobID(claimed)+"/result", agent,
		fmt.Sprintf(`{"status":"SUCCESS","certificate_pem":%q}`, next.PEM), nil)
	if a := r.alertAbout(model.AlertExpiringSoon, "CERTIFICATE", ids[1]); a.Open() || a.Delivery.Status != "held" {
		t.Errorf("alert of the renewed certificate: %+v", a)
	}

	// The third's renewal is never claimed: once it is overdue (QUEUED
	// past --job-stuck-after), the alert goes out, once.
	r.clock.Advance(30 * time.Minute)
	r.run(checks.CheckStuckJobs)
	if a := r.alertAbout(model.AlertExpiringSoon, "CERTIFICATE", ids[2]); a.Delivery.Status != "held" {
		t.Errorf("alert released before its renewal is overdue: %+v", a.Delivery)
	}
	r.clock.Advance(31 * time.Minute)
	r.run(checks.CheckStuckJobs)
	r.run(checks.CheckStuckJobs)
	r.run(checks.CheckExpiry)
	if n := r.deliveries(held[ids[2]].ID, 1); n != 1 {
		t.Errorf("alert of the overdue renewal delivered %d times, want 1", n)
	}
	if a := r.alertAbout(model.AlertExpiringSoon, "CERTIFICATE", ids[2]); !strings.Contains(a.Message, "overdue") {
		t.Errorf("released alert does not say why: %q", a.Message)
	}
	time.Sleep(50 * time.Millisecond)
	r.hook.mu.Lock()
	defer r.hook.mu.Unlock()
	for id, a := range held {
		if want := map[bool]int{true: 0, false: 1}[id == ids[1]]; r.hook.alerts[a.ID] != want {
			t.Errorf("alert of certificate %d received %d times, want %d", id, r.hook.alerts[a.ID], want)
		}
	}
}

// TestRemindersUntilReadOrResolved: an unread, open EXPIRED alert is sent
// again every --remind-every (24h by default) and counts its reminders;
// reading it or resolving it stops them. The payload names the
// certificate and where it is served.
func TestRemindersUntilReadOrResolved(t *testing.T) {
	r := newWatchRig(t, 0)
	ca := testpki.NewCA(t)
	start := r.clock.Now()
	issue := func(cn string) testpki.Issued {
		return ca.Issue(t, cn, []string{cn}, start.Add(-100*day), start.Add(-2*day-time.Hour))
	}
	kept, read, resolved := issue("kept.example.test"), issue("read.example.test"), issue("resolved.example.test")
	var ep model.Endpoint
	r.must(201, "POST", "/api/v1/endpoints", r.tokens[model.RoleOperator], endpointBody(deadPort(t), "kept.example.test", kept.Fingerprint), &ep)
	ids := r.upload(kept, read, resolved)
	alerts := make([]model.Alert, 3)
	for i, id := range ids {
		alerts[i] = r.alertAbout(model.AlertExpired, "CERTIFICATE", id)
		if n := r.deliveries(alerts[i].ID, 1); n != 1 {
			t.Fatalf("EXPIRED alert of certificate %d delivered %d times", id, n)
		}
	}
	a := alerts[0]
	if !strings.Contains(a.Message, kept.X509.NotAfter.UTC().Format(time.RFC3339)) || !strings.Contains(a.Message, "2 days ago") {
		t.Errorf("EXPIRED alert text lacks the date or the days: %q", a.Message)
	}
	p := r.lastBody(a.ID)
	cert, _ := p["certificate"].(map[string]any)
	if cert == nil || cert["subject"] != kept.X509.Subject.String() || cert["serial"] != kept.X509.SerialNumber.Text(16) ||
		cert["fingerprint"] != kept.Fingerprint || cert["id"] != float64(ids[0]) {
		t.Errorf("payload certificate: %v", p["certificate"])
	}
	eps, _ := cert["endpoints"].([]any)
	if len(eps) != 1 {
		t.Fatalf("payload endpoints: %v", cert["endpoints"])
	}
	e0 := eps[0].(map[string]any)
	if e0["id"] != float64(ep.ID) || e0["host"] != "127.0.0.1" || e0["port"] != float64(ep.Port) || e0["server_name"] != "kept.example.test" ||
		e0["expected"] != true || e0["serving"] != false {
		t.Errorf("payload endpoint: %v", e0)
	}
	if p["days_left"] != -2.0 || p["reminders"] != 0.0 {
		t.Errorf("payload days_left %v reminders %v", p["days_left"], p["reminders"])
	}

	// Not yet due: nothing is sent again.
	r.clock.Advance(23 * time.Hour)
	r.run(checks.CheckReminders)
	if n, _ := r.reminded(a.ID); n != 0 {
		t.Errorf("reminded %d times before the period", n)
	}
	// A day after it was raised: each is sent again and counts it.
	r.clock.Advance(time.Hour + time.Minute)
	rep := r.run(checks.CheckReminders)
	if rep.Details["reminders_sent"] != 3 {
		t.Errorf("reminders run: %+v", rep)
	}
	for i, id := range ids {
		if n, at := r.reminded(alerts[i].ID); n != 1 || at == nil || !at.Equal(r.clock.Now()) {
			t.Errorf("alert of certificate %d after a day: reminders %d at %v", id, n, at)
		}
		if n := r.deliveries(alerts[i].ID, 2); n != 2 {
			t.Errorf("alert of certificate %d delivered %d times, want 2", id, n)
		}
	}
	if p := r.lastBody(a.ID); p["reminders"] != 1.0 {
		t.Errorf("reminder payload: reminders %v", p["reminders"])
	}
	// One is read, one resolved by a newer certificate: only the third is
	// reminded of on the next day.
	r.must(200, "POST", fmt.Sprintf("/api/v1/alerts/%d/read", alerts[1].ID), r.tokens[model.RoleOperator], "", nil)
	r.upload(ca.Issue(t, "resolved.example.test", []string{"resolved.example.test"}, r.clock.Now(), r.clock.Now().Add(90*day)))
	r.clock.Advance(24 * time.Hour)
	r.run(checks.CheckReminders)
	r.run(checks.CheckReminders)
	for i, want := range []int{2, 1, 1} {
		if n, _ := r.reminded(alerts[i].ID); n != want {
			t.Errorf("alert of certificate %d: %d reminders, want %d", ids[i], n, want)
		}
		if n := r.deliveries(alerts[i].ID, want+1); n != want+1 {
			t.Errorf("alert of certificate %d delivered %d times, want %d", ids[i], n, want+1)
		}
	}
	if evs := r.events("category=AUDIT_LOG&type=SCHEDULER_RUN"); len(evs) == 0 || evs[0].Entity != (model.Entity{Type: "CHECK", ID: checks.CheckReminders}) {
		t.Errorf("reminder runs are not recorded: %+v", evs)
	}
}

// TestExpiryDaysRoles: only admins and operators, through a session or a
// token of scope manage, change thresholds.
func TestExpiryDaysRoles(t *testing.T) {
	r := newWatchRig(t, 0)
	ca := testpki.NewCA(t)
	c := ca.Issue(t, "roles.example.test", []string{"roles.example.test"}, time.Now().Add(-time.Hour), time.Now().Add(40*day))
	id := r.upload(c)[0]
	var ep model.Endpoint
	r.must(201, "POST", "/api/v1/endpoints", r.tokens[model.RoleOperator], endpointBody(deadPort(t), "roles.example.test", ""), &ep)
	paths := []string{fmt.Sprintf("/api/v1/certificates/%d/expiry-days", id), fmt.Sprintf("/api/v1/endpoints/%d/expiry-days", ep.ID)}
	for _, tc := range []struct {
		token string
		want  int
	}{
		{model.RoleViewer, 403}, {model.RoleAuditor, 403}, {"read", 403}, {"agent", 403}, {"", 401},
		{model.RoleOperator, 200}, {model.RoleAdmin, 200},
	} {
		for _, path := range paths {
			if status, body := r.call("PUT", path, r.tokens[tc.token], "application/json", `{"days":[45]}`); status != tc.want {
				t.Errorf("PUT %s as %q: %d, want %d: %s", path, tc.token, status, tc.want, body)
			}
		}
	}
	// The admin's repeats the operator's: no change, nothing recorded.
	if evs := r.events("type=EXPIRY_DAYS_CHANGED"); len(evs) != 2 {
		t.Errorf("%d changes recorded, want the operator's 2", len(evs))
	}
}

// TestRemindEveryFlag: --remind-every takes a duration, 0 turns reminders
// off (the reminders check is then not scheduled and a run says so).
func TestRemindEveryFlag(t *testing.T) {
	code, out, errOut := vigil(t, "", "serve", "--data", t.TempDir(), "--remind-every", "soon")
	if code != 2 || !strings.Contains(out+errOut, "--remind-every") {
		t.Errorf("bad --remind-every: exit %d, %q %q", code, out, errOut)
	}
	cfg, err := parseServeConfig([]string{"--remind-every", "2d"})
	if err != nil || cfg.Watch.RemindEvery != 48*time.Hour || cfg.Watch.CronReminders != "@every 5m" {
		t.Errorf("--remind-every 2d: %v %v %q", err, cfg.Watch.RemindEvery, cfg.Watch.CronReminders)
	}
	cfg, err = parseServeConfig([]string{"--remind-every", "0"})
	if err != nil || cfg.Watch.RemindEvery != 0 {
		t.Fatalf("--remind-every 0: %v %v", err, cfg.Watch.RemindEvery)
	}
	for _, s := range schedules(cfg) {
		if s.Check == checks.CheckReminders && (s.Spec != "" || !strings.Contains(s.About, "off")) {
			t.Errorf("reminders schedule with --remind-every 0: %+v", s)
		}
	}
}
