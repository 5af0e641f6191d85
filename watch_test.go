package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/checks"
	"vigil/internal/fixture"
	"vigil/internal/testpki"
	"vigil/model"
	"vigil/notify"
	"vigil/store"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// watchRig is the appliance as build wires it, with a test clock, the
// HTTP listener on a free port, no syslog listeners or cron schedules, and
// a webhook receiver that fails its first requests.
type watchRig struct {
	t      *testing.T
	clock  *testClock
	st     *store.Store
	sched  *checks.Scheduler
	url    string            // of the HTTP listener
	tokens map[string]string // by role, plus "agent" (agent-1's) and "read"
	hook   *webhookReceiver
}

type webhookReceiver struct {
	mu       sync.Mutex
	failFor  int // the first failFor requests answer 500
	requests int
	alerts   map[int64]int // alert id → deliveries accepted
	bodies   []string      // the accepted alert payloads, as sent
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var p struct {
		Kind  string      `json:"kind"`
		Alert model.Alert `json:"alert"`
	}
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests++
	if w.requests <= w.failFor {
		http.Error(rw, "receiver down", http.StatusInternalServerError)
		return
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Kind != "alert" || p.Alert.ID == 0 {
		http.Error(rw, "bad payload", http.StatusBadRequest)
		return
	}
	w.alerts[p.Alert.ID]++
	w.bodies = append(w.bodies, string(body))
	rw.WriteHeader(http.StatusNoContent)
}

func newWatchRig(t *testing.T, webhookFailures int) *watchRig {
	t.Helper()
	return newWatchRigNets(t, webhookFailures, model.EndpointNetworks{})
}

// newWatchRigNets is newWatchRig with --endpoint-networks set to nets.
func newWatchRigNets(t *testing.T, webhookFailures int, nets model.EndpointNetworks) *watchRig {
	t.Helper()
	hook := &webhookReceiver{failFor: webhookFailures, alerts: map[int64]int{}}
	hookSrv := httptest.NewServer(hook)
	cfg, err := parseServeConfig([]string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--syslog-udp", "", "--syslog-tcp", "",
		"--cron-expiry", "", "--cron-agents", "", "--cron-jobs", "", "--cron-deploy", "", "--cron-checkpoint", "", "--cron-retention", "",
		"--webhook-url", hookSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	var url string
	cfg.Clock, cfg.Listening = clock, func(name, addr string) {
		if name == "http" {
			url = "http://" + addr
		}
	}
	cfg.Webhook = notify.Options{Backoff: 5 * time.Millisecond, Attempts: 5}
	cfg.Watch.DialTimeout, cfg.Watch.EndpointNetworks = 2*time.Second, nets
	app, err := build(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		app.Close()
		hookSrv.Close()
	})
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	st := app.Store
	r := &watchRig{t: t, clock: clock, st: st, sched: app.Scheduler, url: url, tokens: map[string]string{}, hook: hook}
	for _, u := range []struct{ name, role, scope, key string }{
		{"ops", model.RoleOperator, model.ScopeManage, model.RoleOperator},
		{"boss", model.RoleAdmin, model.ScopeManage, model.RoleAdmin},
		{"audrey", model.RoleAuditor, model.ScopeRead, model.RoleAuditor},
		{"vic", model.RoleViewer, model.ScopeRead, model.RoleViewer},
		{"agent-1", model.RoleOperator, model.ScopeAgent, "agent"},
		{"boss", "", model.ScopeRead, "read"},
	} {
		if u.role != "" {
			fixture.User(t, st.Path(), u.name, u.role, "correct horse battery")
		}
		r.tokens[u.key] = fixture.Token(t, st.Path(), u.name, "t-"+u.key, u.scope)
	}
	return r
}

// agentToken returns a token of user agent-1 bound to agent id, created on
// first use.
func (r *watchRig) agentToken(id string) string {
	r.t.Helper()
	if id == "agent-1" {
		return r.tokens["agent"]
	}
	if tok, ok := r.tokens["agent:"+id]; ok {
		return tok
	}
	secret := fixture.AgentToken(r.t, r.st.Path(), "agent-1", "t-agent-"+id, model.ScopeAgent, id)
	r.tokens["agent:"+id] = secret
	return secret
}

// call makes an API request as token and returns the status and body.
func (r *watchRig) call(method, path, token, contentType, body string) (int, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// must makes a request that has to answer want, decoding the body into v.
func (r *watchRig) must(want int, method, path, token, body string, v any) {
	r.t.Helper()
	ct := "application/json"
	if strings.HasPrefix(body, "-----BEGIN") {
		ct = "application/x-pem-file"
	}
	status, b := r.call(method, path, token, ct, body)
	if status != want {
		r.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			r.t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
}

func (r *watchRig) run(check string) checks.Report {
	r.t.Helper()
	rep, err := r.sched.RunCheck(context.Background(), check)
	if err != nil {
		r.t.Fatalf("check %s: %v", check, err)
	}
	return rep
}

type alertList struct {
	Alerts []model.Alert `json:"alerts"`
	Unread int           `json:"unread"`
}

// alerts returns the alerts of type typ (all with ""), newest first.
func (r *watchRig) alerts(query, typ string) []model.Alert {
	r.t.Helper()
	var l alertList
	r.must(200, "GET", "/api/v1/alerts?limit=1000&"+query, r.tokens[model.RoleViewer], "", &l)
	var out []model.Alert
	for _, a := range l.Alerts {
		if typ == "" || a.Type == typ {
			out = append(out, a)
		}
	}
	return out
}

func (r *watchRig) events(query string) []struct {
	ID     int64           `json:"id"`
	Type   string          `json:"type"`
	Actor  model.Actor     `json:"actor"`
	Entity model.Entity    `json:"entity"`
	Detail json.RawMessage `json:"details"`
} {
	r.t.Helper()
	var l struct {
		Events []struct {
			ID     int64           `json:"id"`
			Type   string          `json:"type"`
			Actor  model.Actor     `json:"actor"`
			Entity model.Entity    `json:"entity"`
			Detail json.RawMessage `json:"details"`
		} `json:"events"`
	}
	r.must(200, "GET", "/api/v1/events?limit=1000&"+query, r.tokens["read"], "", &l)
	return l.Events
}

// tlsEndpoint is a real TLS server on 127.0.0.1 whose certificate the
// test can swap.
type tlsEndpoint struct {
	port int
	cert atomic.Pointer[tls.Certificate]
}

func startTLS(t *testing.T, c testpki.Issued) *tlsEndpoint {
	t.Helper()
	ep := &tlsEndpoint{}
	ep.serve(c)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ep.port = ln.Addr().(*net.TCPAddr).Port
	cfg := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return ep.cert.Load(), nil }}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				_ = tls.Server(conn, cfg).Handshake()
			}()
		}
	}()
	return ep
}

func (ep *tlsEndpoint) serve(c testpki.Issued) { ep.cert.Store(&c.TLS) }

// deadPort returns a port on 127.0.0.1 that nothing listens on.
func deadPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func endpointBody(port int, sni, expected string) string {
	return fmt.Sprintf(`{"host":"127.0.0.1","port":%d,"server_name":%q,"expected_fingerprint":%q}`, port, sni, expected)
}

func jobID(j model.Job) string { return strconv.FormatInt(j.ID, 10) }

func bundle(certs ...testpki.Issued) string {
	var b bytes.Buffer
	for _, c := range certs {
		b.WriteString(c.PEM)
	}
	return b.String()
}

const day = 24 * time.Hour

// TestCertificateWatchCycle follows a certificate from upload to renewal
// and redeployment, and the agent, stuck-job, deployment and webhook
// checks around it, through the real API with a test clock.
func TestCertificateWatchCycle(t *testing.T) {
	r := newWatchRig(t, 2)
	ca := testpki.NewCA(t)
	start := r.clock.Now()
	runs := 0
	run := func(check string) { r.run(check); runs++ }
	ops, agent := r.tokens[model.RoleOperator], r.tokens["agent"]

	www := []string{"www.example.test", "127.0.0.1"}
	soon := ca.Issue(t, "www.example.test", www, start.Add(-80*day), start.Add(5*day))
	long := ca.Issue(t, "api.example.test", []string{"api.example.test"}, start.Add(-time.Hour), start.Add(90*day))

	// Upload: a bundle of two, parsed; a second upload adds nothing.
	var up struct {
		Certificates []store.AddedCertificate `json:"certificates"`
		Added        int                      `json:"added"`
	}
	r.must(201, "POST", "/api/v1/certificates", ops, bundle(soon, long), &up)
	if up.Added != 2 || len(up.Certificates) != 2 {
		t.Fatalf("upload: %+v", up)
	}
	c0 := up.Certificates[0]
	if c0.Fingerprint != soon.Fingerprint || c0.KeyType != "ECDSA" || c0.KeyBits != 256 || c0.CommonName != "www.example.test" ||
		strings.Join(c0.SANs, ",") != "www.example.test,127.0.0.1" || c0.Serial != soon.X509.SerialNumber.Text(16) ||
		!c0.NotAfter.Equal(soon.X509.NotAfter) || !strings.Contains(c0.Issuer, "Vigil Test CA") {
		t.Errorf("parsed certificate: %+v", c0.Certificate)
	}
	soonID := c0.ID
	r.must(200, "POST", "/api/v1/certificates", ops, soon.PEM, &up)
	if up.Added != 0 || up.Certificates[0].ID != soonID {
		t.Errorf("re-upload: %+v", up)
	}
	epA := startTLS(t, soon)
	var endpointA model.Endpoint
	r.must(201, "POST", "/api/v1/endpoints", ops, endpointBody(epA.port, "www.example.test", soon.Fingerprint), &endpointA)

	// Expiry: 5 days left crosses 30, 14 and 7: one alert, for 7 days, and
	// one QUEUED renewal; a second run repeats neither.
	run(checks.CheckExpiry)
	run(checks.CheckExpiry)
	exp := r.alerts("", model.AlertExpiringSoon)
	if len(exp) != 1 || exp[0].Key != fmt.Sprintf("EXPIRING_SOON:cert:%d:7", soonID) || exp[0].Entity.ID != strconv.FormatInt(soonID, 10) || exp[0].Severity != model.SeverityWarn {
		t.Fatalf("after the first expiry runs: %+v", exp)
	}
	var jl struct {
		Jobs []model.Job `json:"jobs"`
	}
	r.must(200, "GET", "/api/v1/jobs?type=RENEWAL&status=QUEUED", r.tokens[model.RoleViewer], "", &jl)
	if len(jl.Jobs) != 1 || jl.Jobs[0].CertificateID != soonID || jl.Jobs[0].TriggeredBy != model.SchedulerActor {
		t.Fatalf("renewal jobs: %+v", jl.Jobs)
	}
	renewal := jl.Jobs[0]

	// Four days on, the 1-day threshold: one more alert, the open renewal
	// is not queued twice.
	r.clock.Advance(4*day + time.Hour)
	run(checks.CheckExpiry)
	run(checks.CheckExpiry)
	if exp = r.alerts("", model.AlertExpiringSoon); len(exp) != 2 || exp[0].Key != fmt.Sprintf("EXPIRING_SOON:cert:%d:1", soonID) {
		t.Fatalf("after crossing 1 day: %+v", exp)
	}
	r.must(200, "GET", "/api/v1/jobs?type=RENEWAL", r.tokens[model.RoleViewer], "", &jl)
	if len(jl.Jobs) != 1 {
		t.Fatalf("renewal queued again: %+v", jl.Jobs)
	}

	// An agent claims it, runs it for 90 s and reports the new certificate.
	var claimed model.Job
	r.must(200, "POST", "/api/v1/jobs/claim", agent, `{"agent_id":"agent-1"}`, &claimed)
	if claimed.ID != renewal.ID || claimed.Status != model.JobRunning || claimed.ClaimedBy != "agent-1" || !claimed.StartedAt.Equal(r.clock.Now()) {
		t.Fatalf("claimed %+v", claimed)
	}
	if status, body := r.call("POST", "/api/v1/jobs/claim", agent, "application/json", `{"agent_id":"agent-1"}`); status != http.StatusNoContent {
		t.Fatalf("claim with nothing queued: %d %s", status, body)
	}
	r.clock.Advance(90 * time.Second)
	renewed := ca.Issue(t, "www.example.test", www, r.clock.Now().Add(-time.Minute), r.clock.Now().Add(90*day))
	var res struct {
		Job                  model.Job               `json:"job"`
		IssuedCertificate    *store.AddedCertificate `json:"issued_certificate"`
		ReplacedCertificates []int64                 `json:"replaced_certificates"`
		EndpointsUpdated     []int64                 `json:"endpoints_updated"`
	}
	resultBody := fmt.Sprintf(`{"status":"SUCCESS","output":{"profile":"tls-server"},"ca_request_id":"req-77","certificate_pem":%q}`, renewed.PEM)
	r.must(200, "POST", "/api/v1/jobs/"+jobID(claimed)+"/result", agent, resultBody, &res)
	if res.Job.Status != model.JobSuccess || res.Job.DurationMS == nil || *res.Job.DurationMS != 90000 ||
		res.IssuedCertificate == nil || res.IssuedCertificate.Fingerprint != renewed.Fingerprint ||
		res.Job.IssuedCertificateID != strconv.FormatInt(res.IssuedCertificate.ID, 10) || res.Job.CARequestID != "req-77" ||
		fmt.Sprint(res.ReplacedCertificates) != fmt.Sprint([]int64{soonID}) || fmt.Sprint(res.EndpointsUpdated) != fmt.Sprint([]int64{endpointA.ID}) {
		t.Fatalf("result: %+v job %+v", res, res.Job)
	}
	if status, _ := r.call("POST", "/api/v1/jobs/"+jobID(claimed)+"/result", agent, "application/json", resultBody); status != http.StatusConflict {
		t.Errorf("second result: %d, want 409", status)
	}
	if open := r.alerts("open=1", model.AlertExpiringSoon); len(open) != 0 {
		t.Errorf("expiry alerts still open after the renewal: %+v", open)
	}
	// The audit trail names who initiated, started and completed it (the
	// agent with the address it called from).
	agentActor := model.Actor{Type: "AGENT", ID: "agent-1", IP: "127.0.0.1"}
	for _, want := range []struct {
		typ   string
		actor model.Actor
	}{
		{"RENEWAL_INITIATED", model.SchedulerActor},
		{"RENEWAL_STARTED", agentActor},
		{"RENEWAL_COMPLETED", agentActor},
	} {
		evs := r.events("category=AUDIT_LOG&type=" + want.typ)
		if len(evs) != 1 || evs[0].Actor != want.actor || evs[0].Entity != (model.Entity{Type: "JOB", ID: jobID(claimed)}) {
			t.Errorf("%s events: %+v", want.typ, evs)
		}
	}
	var eps struct {
		Endpoints []model.Endpoint `json:"endpoints"`
	}
	r.must(200, "GET", "/api/v1/endpoints", r.tokens[model.RoleViewer], "", &eps)
	if len(eps.Endpoints) != 1 || eps.Endpoints[0].ExpectedFingerprint != renewed.Fingerprint {
		t.Fatalf("endpoint after renewal: %+v", eps.Endpoints)
	}

	// Deployment validation and discovery. A still serves the old
	// certificate; B an expired one; C is dead; D serves another
	// certificate than expected; E serves one Vigil has never seen.
	now := r.clock.Now()
	expired := ca.Issue(t, "old.example.test", []string{"old.example.test"}, now.Add(-100*day), now.Add(-2*day))
	rogue := ca.Issue(t, "www.example.test", www, now.Add(-time.Hour), now.Add(30*day))
	shop := ca.Issue(t, "shop.example.test", []string{"shop.example.test"}, now.Add(-time.Hour), now.Add(60*day))
	epB, epD, epE := startTLS(t, expired), startTLS(t, rogue), startTLS(t, shop)
	for _, body := range []string{
		endpointBody(epB.port, "old.example.test", ""),
		endpointBody(deadPort(t), "gone.example.test", ""),
		endpointBody(epD.port, "www.example.test", long.Fingerprint),
		endpointBody(epE.port, "shop.example.test", ""),
	} {
		r.must(201, "POST", "/api/v1/endpoints", ops, body, nil)
	}
	run(checks.CheckDeploy)
	failed := r.alerts("open=1", model.AlertDeploymentFailed)
	if len(failed) != 4 {
		t.Fatalf("deployment alerts: %+v", failed)
	}
	r.must(200, "GET", "/api/v1/jobs?type=DEPLOYMENT_VALIDATION", r.tokens[model.RoleViewer], "", &jl)
	byEndpoint := map[int64]model.Job{}
	for _, j := range jl.Jobs {
		byEndpoint[j.EndpointID] = j
	}
	for i, want := range []struct{ status, reason string }{
		{model.JobFailed, "not the expected " + renewed.Fingerprint},
		{model.JobFailed, "expired at"},
		{model.JobFailed, "cannot connect"},
		{model.JobFailed, "not the expected " + long.Fingerprint},
		{model.JobSuccess, ""},
	} {
		j := byEndpoint[int64(i+1)]
		if j.Status != want.status || !strings.Contains(j.Error, want.reason) || j.TriggeredBy != model.SchedulerActor || j.CompletedAt == nil {
			t.Errorf("endpoint %d job: %s %q, want %s %q", i+1, j.Status, j.Error, want.status, want.reason)
		}
	}
	var inv struct {
		Certificates []struct {
			model.Certificate
			DaysLeft int `json:"days_left"`
		} `json:"certificates"`
	}
	r.must(200, "GET", "/api/v1/certificates?subject=shop.example", r.tokens[model.RoleViewer], "", &inv)
	if len(inv.Certificates) != 1 || inv.Certificates[0].Fingerprint != shop.Fingerprint || inv.Certificates[0].Source != model.CertSourceDiscovery || inv.Certificates[0].DaysLeft != 60 {
		t.Errorf("discovered certificate: %+v", inv.Certificates)
	}
	// Once A serves the renewed certificate its alert resolves; the
	// others stay open and are not raised again.
	epA.serve(renewed)
	run(checks.CheckDeploy)
	if failed = r.alerts("open=1", model.AlertDeploymentFailed); len(failed) != 3 || len(r.alerts("", model.AlertDeploymentFailed)) != 4 {
		t.Errorf("after redeploying A: open %+v", failed)
	}
	for _, a := range failed {
		if a.Entity.ID == strconv.FormatInt(endpointA.ID, 10) {
			t.Errorf("alert of endpoint A still open: %+v", a)
		}
	}

	// An agent going quiet raises AGENT_OFFLINE; back, it resolves.
	heartbeat := `{"type":"HEARTBEAT","agent_id":"agent-9","host":"build-7"}`
	r.must(202, "POST", "/api/v1/events", r.agentToken("agent-9"), heartbeat, nil)
	run(checks.CheckAgents)
	agentAlerts := func(q string) []model.Alert {
		var out []model.Alert
		for _, a := range r.alerts(q, model.AlertAgentOffline) {
			if a.Entity.ID == "agent-9" {
				out = append(out, a)
			}
		}
		return out
	}
	if a := agentAlerts(""); len(a) != 0 {
		t.Fatalf("agent alert while it talks: %+v", a)
	}
	r.clock.Advance(11 * time.Minute)
	run(checks.CheckAgents)
	run(checks.CheckAgents)
	if a := agentAlerts("open=1"); len(a) != 1 || a[0].Severity != model.SeverityWarn {
		t.Fatalf("agent offline alerts: %+v", a)
	}
	var al struct {
		Agents []model.Agent `json:"agents"`
	}
	r.must(200, "GET", "/api/v1/agents", r.tokens[model.RoleViewer], "", &al)
	found := false
	for _, a := range al.Agents {
		if a.ID == "agent-9" {
			found = true
			if a.Online || a.Host != "build-7" || !a.LastSeen.Equal(r.clock.Now().Add(-11*time.Minute)) {
				t.Errorf("agent-9 listed as %+v", a)
			}
		}
	}
	if !found {
		t.Errorf("agent-9 not listed: %+v", al.Agents)
	}
	r.must(202, "POST", "/api/v1/events", r.agentToken("agent-9"), heartbeat, nil)
	run(checks.CheckAgents)
	if a := agentAlerts(""); len(a) != 1 || a[0].Open() {
		t.Fatalf("agent back: %+v", a)
	}

	// A job left RUNNING raises JOB_STUCK, one never claimed JOB_UNCLAIMED.
	var stuck, unclaimed model.Job
	r.must(201, "POST", "/api/v1/jobs", ops, `{"type":"CA_REFRESH","ca_id":"ca-eu-1","name":"Refresh EU CA"}`, &stuck)
	r.must(201, "POST", "/api/v1/jobs", ops, `{"type":"CA_REFRESH","ca_id":"ca-us-1","agent_id":"agent-nobody"}`, &unclaimed)
	r.must(200, "POST", "/api/v1/jobs/claim", r.agentToken("agent-2"), `{"agent_id":"agent-2"}`, &claimed)
	if claimed.ID != stuck.ID {
		t.Fatalf("agent-2 claimed %d, want %d (the other is for agent-nobody)", claimed.ID, stuck.ID)
	}
	r.clock.Advance(61 * time.Minute)
	run(checks.CheckStuckJobs)
	run(checks.CheckStuckJobs)
	if a := r.alerts("open=1", model.AlertJobStuck); len(a) != 1 || a[0].Entity.ID != jobID(stuck) {
		t.Errorf("stuck alerts: %+v", a)
	}
	if a := r.alerts("open=1", model.AlertJobUnclaimed); len(a) != 1 || a[0].Entity.ID != jobID(unclaimed) {
		t.Errorf("unclaimed alerts: %+v", a)
	}
	r.must(200, "POST", "/api/v1/jobs/"+jobID(stuck)+"/result", r.agentToken("agent-2"), `{"agent_id":"agent-2","status":"SUCCESS"}`, nil)
	if a := r.alerts("open=1", model.AlertJobStuck); len(a) != 0 {
		t.Errorf("stuck alert open after the job ended: %+v", a)
	}

	// A failed renewal raises RENEWAL_FAILED; a second open renewal for
	// the same certificate is refused.
	var longRenewal model.Job
	longID := up.Certificates[0].ID + 1
	r.must(201, "POST", "/api/v1/jobs", ops, fmt.Sprintf(`{"type":"RENEWAL","certificate_id":%d}`, longID), &longRenewal)
	r.must(409, "POST", "/api/v1/jobs", ops, fmt.Sprintf(`{"type":"RENEWAL","certificate_id":%d}`, longID), nil)
	r.must(200, "POST", "/api/v1/jobs/claim", agent, `{"agent_id":"agent-1"}`, &claimed)
	r.must(200, "POST", "/api/v1/jobs/"+jobID(claimed)+"/result", agent, `{"agent_id":"agent-1","status":"FAILED","error":"CA refused the request"}`, nil)
	if a := r.alerts("", model.AlertRenewalFailed); len(a) != 1 || a[0].Severity != model.SeverityError || !strings.Contains(a[0].Message, "CA refused") {
		t.Errorf("renewal failed alerts: %+v", a)
	}

	// Every check run is an audit event by the scheduler.
	evs := r.events("type=SCHEDULER_RUN")
	if len(evs) != runs {
		t.Errorf("%d SCHEDULER_RUN events for %d runs", len(evs), runs)
	}
	for _, e := range evs {
		if e.Actor != model.SchedulerActor || e.Entity.Type != "CHECK" {
			t.Errorf("run event %+v", e)
		}
	}

	// Metrics count runs per check, open alerts and jobs by status.
	_, metrics := r.call("GET", "/metrics", r.tokens["read"], "", "")
	for _, want := range []string{
		`vigil_scheduler_runs_total{check="expiry"} 4`,
		`vigil_scheduler_runs_total{check="deploy"} 2`,
		`vigil_scheduler_failures_total{check="agents"} 0`,
		`vigil_alerts_open{severity="ERROR"} 4`, // 3 deployments, 1 renewal
		`vigil_jobs{status="QUEUED"} 1`,
		`vigil_jobs{status="RUNNING"} 0`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// The webhook got every alert once, the first after two failures.
	all := r.alerts("", "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		pending := 0
		for _, a := range r.alerts("", "") {
			if a.Delivery.Status != model.DeliveryDelivered {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d alerts not delivered: %+v", pending, len(all), r.alerts("", ""))
		}
		time.Sleep(20 * time.Millisecond)
	}
	all = r.alerts("", "")
	first := all[len(all)-1]
	if first.Delivery.Attempts != 3 {
		t.Errorf("first alert delivered after %d attempts, want 3", first.Delivery.Attempts)
	}
	r.hook.mu.Lock()
	defer r.hook.mu.Unlock()
	if len(r.hook.alerts) != len(all) {
		t.Errorf("receiver got %d distinct alerts, want %d", len(r.hook.alerts), len(all))
	}
	for id, n := range r.hook.alerts {
		if n != 1 {
			t.Errorf("alert %d received %d times", id, n)
		}
	}
}

// TestUploadChecksExpiryAtOnce: a certificate uploaded through the API or
// the console's form is checked for expiry at once, without waiting for the
// next scheduled run: one close to expiry has its EXPIRING_SOON alert and
// its RENEWAL job when the upload is answered; a later scheduled run
// repeats neither, and one far from expiry gets nothing.
func TestUploadChecksExpiryAtOnce(t *testing.T) {
	r := newWatchRig(t, 0)
	ca := testpki.NewCA(t)
	now := r.clock.Now()
	apiSoon := ca.Issue(t, "api-soon.example.test", []string{"api-soon.example.test"}, now.Add(-80*day), now.Add(10*day))
	formSoon := ca.Issue(t, "form-soon.example.test", []string{"form-soon.example.test"}, now.Add(-80*day), now.Add(3*day))
	far := ca.Issue(t, "far.example.test", []string{"far.example.test"}, now.Add(-time.Hour), now.Add(200*day))

	var up struct {
		Certificates []store.AddedCertificate `json:"certificates"`
	}
	r.must(201, "POST", "/api/v1/certificates", r.tokens[model.RoleOperator], bundle(apiSoon, far), &up)
	apiID, farID := up.Certificates[0].ID, up.Certificates[1].ID

	// The console's form, as a signed-in operator.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(r.url+"/login", url.Values{"username": {"ops"}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", r.url+"/certificates", strings.NewReader(url.Values{"pem": {formSoon.PEM}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	if resp, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		t.Fatalf("console upload: %d", resp.StatusCode)
	}
	var formID int64
	r.must(200, "GET", "/api/v1/certificates?subject=form-soon", r.tokens[model.RoleViewer], "", &up)
	if len(up.Certificates) != 1 {
		t.Fatalf("console upload stored %+v", up.Certificates)
	}
	formID = up.Certificates[0].ID

	want := map[string]bool{
		fmt.Sprintf("EXPIRING_SOON:cert:%d:14", apiID): true,
		fmt.Sprintf("EXPIRING_SOON:cert:%d:7", formID): true,
	}
	check := func(when string) {
		t.Helper()
		alerts := r.alerts("", model.AlertExpiringSoon)
		got := map[string]bool{}
		for _, a := range alerts {
			got[a.Key] = true
			if a.Entity.ID == strconv.FormatInt(farID, 10) {
				t.Errorf("%s: alert for a certificate 200 days from expiry: %+v", when, a)
			}
		}
		if len(alerts) != len(want) || !got[fmt.Sprintf("EXPIRING_SOON:cert:%d:14", apiID)] || !got[fmt.Sprintf("EXPIRING_SOON:cert:%d:7", formID)] {
			t.Errorf("%s: EXPIRING_SOON alerts %+v, want keys %v", when, alerts, want)
		}
		var jl struct {
			Jobs []model.Job `json:"jobs"`
		}
		r.must(200, "GET", "/api/v1/jobs?type=RENEWAL", r.tokens[model.RoleViewer], "", &jl)
		if len(jl.Jobs) != 2 {
			t.Errorf("%s: renewal jobs %+v, want one each for certificates %d and %d", when, jl.Jobs, apiID, formID)
		}
	}
	check("right after the uploads")
	r.run(checks.CheckExpiry)
	check("after a scheduled run")
}

// TestDeployCheckRecordsChanges: scheduled deployment checks of endpoints
// that serve the same thing run after run make one DEPLOYMENT_VALIDATION
// job (and one alert for a failing one) each, not one per run; each run
// still updates the endpoint (last checked, result, certificate served)
// and its SCHEDULER_RUN event names the failing endpoints. A change of what
// an endpoint serves or of its result makes one more job; a person asking
// for a validation still gets a job.
func TestDeployCheckRecordsChanges(t *testing.T) {
	r := newWatchRig(t, 0)
	ca := testpki.NewCA(t)
	now := r.clock.Now()
	ops, viewer := r.tokens[model.RoleOperator], r.tokens[model.RoleViewer]
	good := ca.Issue(t, "good.example.test", []string{"good.example.test"}, now.Add(-time.Hour), now.Add(90*day))
	other := ca.Issue(t, "good.example.test", []string{"good.example.test"}, now.Add(-time.Hour), now.Add(80*day))
	wrong := ca.Issue(t, "wrong.example.test", []string{"wrong.example.test"}, now.Add(-time.Hour), now.Add(90*day))
	srvGood, srvWrong := startTLS(t, good), startTLS(t, wrong)
	var epGood, epDead, epWrong model.Endpoint
	r.must(201, "POST", "/api/v1/endpoints", ops, endpointBody(srvGood.port, "good.example.test", good.Fingerprint), &epGood)
	r.must(201, "POST", "/api/v1/endpoints", ops, endpointBody(deadPort(t), "dead.example.test", ""), &epDead)
	r.must(201, "POST", "/api/v1/endpoints", ops, endpointBody(srvWrong.port, "www.example.test", ""), &epWrong)

	jobsOf := func() map[int64][]model.Job {
		t.Helper()
		var jl struct {
			Jobs []model.Job `json:"jobs"`
		}
		r.must(200, "GET", "/api/v1/jobs?type=DEPLOYMENT_VALIDATION&limit=1000", viewer, "", &jl)
		out := map[int64][]model.Job{}
		for _, j := range jl.Jobs {
			out[j.EndpointID] = append(out[j.EndpointID], j)
		}
		return out
	}
	wantJobs := func(when string, want map[int64][]string) {
		t.Helper()
		got := jobsOf()
		for id, statuses := range want {
			var have []string
			for _, j := range got[id] { // newest first
				have = append(have, j.Status)
			}
			if strings.Join(have, ",") != strings.Join(statuses, ",") {
				t.Errorf("%s: endpoint %d jobs %v, want %v", when, id, have, statuses)
			}
		}
	}
	runEvery15m := func(n int) {
		for range n {
			r.clock.Advance(15 * time.Minute)
			r.run(checks.CheckDeploy)
		}
	}
	runEvery15m(4)
	wantJobs("after 4 runs", map[int64][]string{
		epGood.ID: {model.JobSuccess}, epDead.ID: {model.JobFailed}, epWrong.ID: {model.JobFailed}})
	if a := r.alerts("", model.AlertDeploymentFailed); len(a) != 2 {
		t.Errorf("after 4 runs: deployment alerts %+v, want one each for endpoints %d and %d", a, epDead.ID, epWrong.ID)
	}
	var eps struct {
		Endpoints []model.Endpoint `json:"endpoints"`
	}
	r.must(200, "GET", "/api/v1/endpoints", viewer, "", &eps)
	for _, ep := range eps.Endpoints {
		if ep.LastChecked == nil || !ep.LastChecked.Equal(r.clock.Now()) {
			t.Errorf("endpoint %d last checked %v, want the last run at %v", ep.ID, ep.LastChecked, r.clock.Now())
		}
		if ep.ID == epGood.ID && (ep.LastStatus != "OK" || ep.LastFingerprint != good.Fingerprint) {
			t.Errorf("endpoint %d: %s serving %s", ep.ID, ep.LastStatus, ep.LastFingerprint)
		}
		if ep.ID == epDead.ID && (ep.LastStatus != "FAILED" || !strings.Contains(ep.LastError, "cannot connect")) {
			t.Errorf("endpoint %d: %s %q", ep.ID, ep.LastStatus, ep.LastError)
		}
	}
	runs := r.events("type=SCHEDULER_RUN")
	if len(runs) != 4 || !strings.Contains(string(runs[0].Detail), fmt.Sprintf(`"failing_endpoints":[%d,%d]`, epDead.ID, epWrong.ID)) {
		t.Errorf("run events %d, the last with details %s", len(runs), runs[0].Detail)
	}

	// What endpoint good serves changes: one FAILED job; back: one SUCCESS.
	for _, step := range []struct {
		when      string
		serve     testpki.Issued
		goodJobs  []string
		openAlert int
	}{
		{"after a change", other, []string{model.JobFailed, model.JobSuccess}, 3},
		{"after the change back", good, []string{model.JobSuccess, model.JobFailed, model.JobSuccess}, 2},
	} {
		srvGood.serve(step.serve)
		runEvery15m(2)
		wantJobs(step.when, map[int64][]string{epGood.ID: step.goodJobs, epDead.ID: {model.JobFailed}, epWrong.ID: {model.JobFailed}})
		if a := r.alerts("open=1", model.AlertDeploymentFailed); len(a) != step.openAlert {
			t.Errorf("%s: open deployment alerts %+v, want %d", step.when, a, step.openAlert)
		}
	}

	// A person asks: a job, whatever the last result.
	r.must(201, "POST", "/api/v1/jobs", ops, fmt.Sprintf(`{"type":"DEPLOYMENT_VALIDATION","endpoint_id":%d}`, epDead.ID), nil)
	wantJobs("after a request", map[int64][]string{epDead.ID: {model.JobQueued, model.JobFailed}})
}

// TestWatchRoles checks SPEC §5 on the watch routes: every role reads
// alerts, jobs, certificates and agents; only admin and operator change
// them; only agent tokens claim jobs.
func TestWatchRoles(t *testing.T) {
	r := newWatchRig(t, 0)
	ca := testpki.NewCA(t)
	c := ca.Issue(t, "roles.example.test", []string{"roles.example.test"}, time.Now().Add(-time.Hour), time.Now().Add(40*day))
	cases := []struct {
		name, token, method, path, body string
		want                            int
	}{
		{"ViewerListsAlerts", model.RoleViewer, "GET", "/api/v1/alerts?unread=1", "", 200},
		{"ViewerListsJobs", model.RoleViewer, "GET", "/api/v1/jobs?status=QUEUED", "", 200},
		{"ViewerListsCertificates", model.RoleViewer, "GET", "/api/v1/certificates?expiring_within=30d", "", 200},
		{"ViewerListsAgents", model.RoleViewer, "GET", "/api/v1/agents", "", 200},
		{"AuditorListsJobs", model.RoleAuditor, "GET", "/api/v1/jobs", "", 200},
		{"ViewerMayNotMarkRead", model.RoleViewer, "POST", "/api/v1/alerts/read-all", "", 403},
		{"AuditorMayNotUpload", model.RoleAuditor, "POST", "/api/v1/certificates", c.PEM, 403},
		{"AuditorMayNotCreateJobs", model.RoleAuditor, "POST", "/api/v1/jobs", `{"type":"CA_REFRESH","ca_id":"x"}`, 403},
		{"ReadTokenMayNotRegisterEndpoints", "read", "POST", "/api/v1/endpoints", `{"host":"127.0.0.1","port":443}`, 403},
		{"OperatorUploads", model.RoleOperator, "POST", "/api/v1/certificates", c.PEM, 201},
		{"AdminCreatesJobs", model.RoleAdmin, "POST", "/api/v1/jobs", `{"type":"CA_REFRESH","ca_id":"ca-1"}`, 201},
		{"OperatorMarksAllRead", model.RoleOperator, "POST", "/api/v1/alerts/read-all", "", 200},
		{"OperatorMayNotClaim", model.RoleOperator, "POST", "/api/v1/jobs/claim", "", 403},
		{"AgentMayNotReadAlerts", "agent", "GET", "/api/v1/alerts", "", 403},
		{"AgentClaims", "agent", "POST", "/api/v1/jobs/claim", "", 200},
		{"NoToken", "", "GET", "/api/v1/jobs", "", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := r.call(tc.method, tc.path, r.tokens[tc.token], "", tc.body)
			if status != tc.want {
				t.Errorf("%s %s as %s: %d, want %d: %s", tc.method, tc.path, tc.token, status, tc.want, body)
			}
		})
	}
}

// TestWatchBadInput checks that bad requests get a clear 4xx and store
// nothing.
func TestWatchBadInput(t *testing.T) {
	r := newWatchRig(t, 0)
	ops := r.tokens[model.RoleOperator]
	cases := []struct {
		name, method, path, body string
		want                     int
		says                     string
	}{
		{"EmptyUpload", "POST", "/api/v1/certificates", "", 400, "empty body"},
		{"NotPEM", "POST", "/api/v1/certificates", "hello", 400, "no PEM certificate"},
		{"PrivateKeyRefused", "POST", "/api/v1/certificates", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 400, "never private keys"},
		{"BrokenCertificate", "POST", "/api/v1/certificates", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 400, "PEM block 1"},
		{"UnknownJobType", "POST", "/api/v1/jobs", `{"type":"REBOOT"}`, 400, "not one of"},
		{"RenewalWithoutCertificate", "POST", "/api/v1/jobs", `{"type":"RENEWAL"}`, 400, "certificate_id"},
		{"RenewalOfUnknownCertificate", "POST", "/api/v1/jobs", `{"type":"RENEWAL","certificate_id":99}`, 400, "not in the inventory"},
		{"MisspeltField", "POST", "/api/v1/jobs", `{"type":"CA_REFRESH","caid":"x"}`, 400, "unknown field"},
		{"IssueWithoutInput", "POST", "/api/v1/jobs", `{"type":"ISSUE_CERT"}`, 400, "input payload"},
		{"EndpointBadPort", "POST", "/api/v1/endpoints", `{"host":"127.0.0.1","port":70000}`, 400, "port"},
		{"EndpointBadFingerprint", "POST", "/api/v1/endpoints", `{"host":"127.0.0.1","port":443,"expected_fingerprint":"abc"}`, 400, "SHA-256"},
		{"BadStatusFilter", "GET", "/api/v1/jobs?status=DONE", "", 400, "not one of"},
		{"BadExpiringWithin", "GET", "/api/v1/certificates?expiring_within=soon", "", 400, "expiring_within"},
		{"BadAlertID", "POST", "/api/v1/alerts/x/read", "", 400, "positive integer"},
		{"MissingAlert", "POST", "/api/v1/alerts/42/read", "", 404, "not found"},
		{"MissingJob", "GET", "/api/v1/jobs/42", "", 404, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := r.call(tc.method, tc.path, ops, "", tc.body)
			if status != tc.want || !strings.Contains(string(body), tc.says) {
				t.Errorf("%d %s, want %d with %q", status, body, tc.want, tc.says)
			}
		})
	}
	var jl struct {
		Jobs []model.Job `json:"jobs"`
	}
	r.must(200, "GET", "/api/v1/jobs", ops, "", &jl)
	if len(jl.Jobs) != 0 {
		t.Errorf("refused requests stored jobs: %+v", jl.Jobs)
	}
	agent := r.agentToken("a1")
	var j model.Job
	r.must(201, "POST", "/api/v1/jobs", ops, `{"type":"CA_REFRESH","ca_id":"ca-1"}`, &j)
	r.must(200, "POST", "/api/v1/jobs/claim", agent, `{"agent_id":"a1"}`, nil)
	for _, tc := range []struct{ name, body string }{
		{"UnknownStatus", `{"agent_id":"a1","status":"DONE"}`},
		{"FailedWithoutError", `{"agent_id":"a1","status":"FAILED"}`},
		{"BadIssuedID", `{"agent_id":"a1","status":"SUCCESS","issued_certificate_id":[1]}`},
		{"BadCertificatePEM", `{"agent_id":"a1","status":"SUCCESS","certificate_pem":"nope"}`},
	} {
		t.Run("Result"+tc.name, func(t *testing.T) {
			if status, body := r.call("POST", "/api/v1/jobs/"+jobID(j)+"/result", agent, "", tc.body); status != 400 {
				t.Errorf("%d %s, want 400", status, body)
			}
		})
	}
	if status, body := r.call("POST", "/api/v1/jobs/"+jobID(j)+"/result", agent, "", `{"agent_id":"a2","status":"SUCCESS"}`); status != 403 {
		t.Errorf("result from another agent: %d %s, want 403", status, body)
	}
	r.must(200, "GET", "/api/v1/jobs/"+jobID(j), ops, "", &j)
	if j.Status != model.JobRunning {
		t.Errorf("job after refused results: %s", j.Status)
	}
}

// TestClaimConcurrency has 8 agents claim 100 jobs at once: each job is
// claimed exactly once.
func TestClaimConcurrency(t *testing.T) {
	r := newWatchRig(t, 0)
	ctx := context.Background()
	const jobsN, agentsN = 100, 8
	for i := 0; i < jobsN; i++ {
		if _, _, err := r.st.CreateJob(ctx, model.Job{Type: model.JobCARefresh, CAID: fmt.Sprintf("ca-%d", i),
			TriggeredBy: model.UserActor("ops"), ScheduledAt: r.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claims := map[int64][]string{}
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for a := 0; a < agentsN; a++ {
		agent := fmt.Sprintf("agent-%d", a)
		token := r.agentToken(agent)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			for {
				req, _ := http.NewRequest("POST", r.url+"/api/v1/jobs/claim", strings.NewReader(`{"agent_id":"`+agent+`"}`))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var j model.Job
				err = json.NewDecoder(resp.Body).Decode(&j)
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					return
				}
				if resp.StatusCode != 200 || err != nil {
					t.Errorf("claim: %d %v", resp.StatusCode, err)
					return
				}
				mu.Lock()
				claims[j.ID] = append(claims[j.ID], agent)
				mu.Unlock()
			}
		}()
	}
	close(ready)
	wg.Wait()
	if len(claims) != jobsN {
		t.Errorf("%d jobs claimed, want %d", len(claims), jobsN)
	}
	agents := map[string]int{}
	for id, by := range claims {
		if len(by) != 1 {
			t.Errorf("job %d claimed by %v", id, by)
		}
		j, err := r.st.JobByID(ctx, id)
		if err != nil || j.Status != model.JobRunning || j.ClaimedBy != by[0] {
			t.Errorf("job %d stored as %s by %s (%v), claimed by %v", id, j.Status, j.ClaimedBy, err, by)
		}
		agents[by[0]]++
	}
	t.Logf("claims per agent: %v", agents)
}

// TestServeWatchFlags checks the scheduler flags of vigil serve: bad
// values stop it at startup with a usage error naming the flag.
func TestServeWatchFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"BadCronSpec", []string{"--cron-expiry", "every hour"}, "--cron-expiry"},
		{"BadEverySpec", []string{"--cron-agents", "@every soon"}, "--cron-agents"},
		{"BadExpiryDays", []string{"--expiry-days", "30,x"}, "--expiry-days"},
		{"ZeroExpiryDays", []string{"--expiry-days", "0"}, "--expiry-days"},
		{"RepeatedExpiryDays", []string{"--expiry-days", "7,7"}, "given twice"},
		{"BadOfflineAfter", []string{"--agent-offline-after", "-5m"}, "--agent-offline-after"},
		{"BadStuckAfter", []string{"--job-stuck-after", "forever"}, "--job-stuck-after"},
		{"BadWebhookURL", []string{"--webhook-url", "ftp://example.test/x"}, "--webhook-url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := vigil(t, "", append([]string{"serve", "--data", t.TempDir()}, c.args...)...)
			if code != 2 || !strings.Contains(out+errOut, c.want) {
				t.Fatalf("exit %d, %q %q; want exit 2 naming %q", code, out, errOut, c.want)
			}
		})
	}
	cfg, err := parseServeConfig([]string{"--expiry-days", "7, 30,1", "--agent-offline-after", "2d", "--cron-deploy", ""})
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Watch
	if fmt.Sprint(w.ExpiryDays) != "[30 7 1]" || w.AgentOfflineAfter != 48*time.Hour || w.JobStuckAfter != time.Hour ||
		w.CronExpiry != "@hourly" || w.CronAgents != "@every 1m" || w.CronJobs != "@every 1m" || w.CronDeploy != "" {
		t.Errorf("parsed %+v", w)
	}
	t.Setenv("VIGIL_CRON_EXPIRY", "@every 5s")
	if cfg, err = parseServeConfig(nil); err != nil || cfg.Watch.CronExpiry != "@every 5s" {
		t.Errorf("VIGIL_CRON_EXPIRY: %q %v", cfg.Watch.CronExpiry, err)
	}
}

// TestServeSchedulesChecks runs the appliance with a fast agents check and
// a webhook: an agent that goes quiet is reported offline by the cron
// schedule, the alert reaches the webhook, and each run is audited.
func TestServeSchedulesChecks(t *testing.T) {
	dir := t.TempDir()
	hook := &webhookReceiver{alerts: map[int64]int{}}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	t.Setenv("VIGIL_ADMIN_PASSWORD", "first-admin-password")
	url, stop := serveWith(t, dir, "--cron-agents", "@every 1s", "--agent-offline-after", "1s",
		"--cron-expiry", "", "--cron-jobs", "", "--cron-deploy", "", "--webhook-url", hookSrv.URL)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	_, agent, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "agent", "--scope", "agent", "--agent", "edge-1")
	_, read, _ := vigil(t, "", "token", "create", "--data", dir, "--user", "admin", "--name", "reader", "--scope", "read")
	agent, read = strings.TrimSpace(agent), strings.TrimSpace(read)
	if code, body := request(t, "POST", url+"/api/v1/events", agent, `{"type":"HEARTBEAT","agent_id":"edge-1"}`); code != 202 {
		t.Fatalf("heartbeat: %d %s", code, body)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		hook.mu.Lock()
		got := len(hook.alerts)
		hook.mu.Unlock()
		if got > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no alert reached the webhook")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, body := request(t, "GET", url+"/api/v1/alerts", read, "")
	var l alertList
	if err := json.Unmarshal([]byte(body), &l); err != nil || len(l.Alerts) != 1 || l.Alerts[0].Type != model.AlertAgentOffline ||
		l.Alerts[0].Entity.ID != "edge-1" || l.Unread != 1 {
		t.Fatalf("alerts: %s", body)
	}
	_, body = request(t, "GET", url+"/api/v1/events?type=SCHEDULER_RUN", read, "")
	if !strings.Contains(body, `"actor":{"type":"SYSTEM","id":"scheduler"}`) || !strings.Contains(body, `"id":"agents"`) {
		t.Fatalf("run events: %.500s", body)
	}
	stopped = true
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
