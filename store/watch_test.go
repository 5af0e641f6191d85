package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/testpki"
	"vigil/model"
)

func testCert(t *testing.T, cn string, sans []string, notAfter time.Time) model.Certificate {
	t.Helper()
	c := testpki.NewCA(t).Issue(t, cn, sans, notAfter.Add(-90*24*time.Hour), notAfter)
	return model.CertificateFromX509(c.X509)
}

// TestSightings: agents are known from their first committed event,
// certificates named by events are seen in use, and Vigil's own records do
// not count as use; the store writes them down itself before it reads.
func TestSightings(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.Now().UTC()
	c := testCert(t, "used.example.test", []string{"used.example.test"}, now.Add(60*24*time.Hour))
	if _, err := s.AddCertificates(ctx, []model.Certificate{c}, model.CertSourceUpload, model.UserActor("ops")); err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration, js string) model.Event {
		e := ev(t, js)
		e.ReceivedAt = now.Add(d)
		return e
	}
	if _, err := s.AppendEvents(ctx, []model.Event{
		at(0, `{"type":"CERT_USED","agent_id":"a1","host":"h1","certificate":{"serial":"0x`+strings.ToUpper(c.Serial)+`"}}`),
		at(time.Minute, `{"type":"CERT_USED","agent_id":"a2","host":"h2","certificate":{"fingerprint":"`+c.Fingerprint+`"}}`),
		at(2*time.Minute, `{"type":"HEARTBEAT","agent_id":"a1"}`),
	}); err != nil {
		t.Fatal(err)
	}
	// Reading twice in a row (each read flushes) counts nothing twice.
	var agents []model.Agent
	for range 2 {
		var err error
		if agents, err = s.ListAgents(ctx, now.Add(5*time.Minute), 4*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if len(agents) != 2 || agents[0].ID != "a1" || agents[0].Events != 2 || !agents[0].LastSeen.Equal(now.Add(2*time.Minute)) ||
		!agents[0].Online || agents[1].Online || agents[1].Host != "h2" {
		t.Errorf("agents %+v", agents)
	}
	got, err := s.CertificateByID(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastSeen == nil || !got.LastSeen.Equal(now.Add(time.Minute)) || got.LastSeenAgent != "a2" || got.LastSeenHost != "h2" || got.Uses != 1 {
		t.Errorf("seen in use: last %v agent %q host %q uses %d", got.LastSeen, got.LastSeenAgent, got.LastSeenHost, got.Uses)
	}
}

// TestSightingsWrittenAtClose: heartbeats committed but not yet read are
// written when the store closes, so a restart keeps them.
func TestSightingsWrittenAtClose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := time.Now().UTC().Truncate(time.Second)
	e := ev(t, `{"type":"HEARTBEAT","agent_id":"a1","host":"h1"}`)
	e.ReceivedAt = seen
	if _, err := s.AppendEvents(ctx, []model.Event{e}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	agents, err := s.ListAgents(ctx, seen, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(agents) != 1 || agents[0].ID != "a1" || agents[0].Host != "h1" || !agents[0].LastSeen.Equal(seen) || agents[0].Events != 1 {
		t.Errorf("agents after a restart: %+v", agents)
	}
}

// TestNewerCertificateReplaces: uploading a newer certificate for the same
// subject and SANs replaces the older one and resolves its expiry alerts;
// one with other SANs does not.
func TestNewerCertificateReplaces(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.Now()
	old := testCert(t, "www.example.test", []string{"www.example.test", "example.test"}, now.Add(3*24*time.Hour))
	added, err := s.AddCertificates(ctx, []model.Certificate{old}, model.CertSourceUpload, model.UserActor("ops"))
	if err != nil {
		t.Fatal(err)
	}
	oldID := added[0].ID
	if _, _, err := s.RaiseAlert(ctx, model.Alert{Severity: model.SeverityWarn, Type: model.AlertExpiringSoon, Title: "soon",
		Key: "EXPIRING_SOON:cert:1:7", Entity: model.CertificateEntity(oldID)}); err != nil {
		t.Fatal(err)
	}
	other := testCert(t, "www.example.test", []string{"www.example.test"}, now.Add(90*24*time.Hour))
	newer := testCert(t, "www.example.test", []string{"example.test", "www.example.test"}, now.Add(90*24*time.Hour))
	added, err = s.AddCertificates(ctx, []model.Certificate{other, newer}, model.CertSourceUpload, model.UserActor("ops"))
	if err != nil {
		t.Fatal(err)
	}
	if len(added[0].Replaced) != 0 || len(added[1].Replaced) != 1 || added[1].Replaced[0] != oldID {
		t.Fatalf("replaced: %+v / %+v", added[0].Replaced, added[1].Replaced)
	}
	got, _ := s.CertificateByID(ctx, oldID)
	if got.ReplacedBy == nil || *got.ReplacedBy != added[1].ID || got.ReplacedAt == nil {
		t.Errorf("old certificate %+v", got)
	}
	open, _, _ := s.FindAlerts(ctx, model.AlertFilter{Open: true})
	if len(open) != 0 {
		t.Errorf("alerts still open: %+v", open)
	}
	current, err := s.CurrentCertificates(ctx)
	if len(current) != 2 || err != nil {
		t.Errorf("%d current certificates (%v), want 2", len(current), err)
	}
}

// TestAlertReadAudited marks alerts read one by one and all at once; each
// change is an audit event by the user, and marking again changes nothing.
func TestAlertReadAudited(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, k := range []string{"a", "b", "c"} {
		if _, created, err := s.RaiseAlert(ctx, model.Alert{Severity: model.SeverityInfo, Type: "TEST", Title: k, Key: k}); err != nil || !created {
			t.Fatal(created, err)
		}
	}
	if _, created, _ := s.RaiseAlert(ctx, model.Alert{Severity: model.SeverityInfo, Type: "TEST", Title: "a", Key: "a"}); created {
		t.Error("an open alert was raised twice")
	}
	a, err := s.MarkAlertRead(ctx, 2, model.UserActor("ops"))
	if err != nil || !a.Read || a.ReadBy != "ops" {
		t.Fatalf("%+v %v", a, err)
	}
	if _, err := s.MarkAlertRead(ctx, 2, model.UserActor("ops")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.MarkAllAlertsRead(ctx, model.UserActor("boss")); n != 2 || err != nil {
		t.Fatalf("read-all marked %d, %v", n, err)
	}
	if n, _ := s.CountUnreadAlerts(ctx); n != 0 {
		t.Errorf("%d unread", n)
	}
	admin := model.VisibilityFor(model.User{Role: model.RoleAdmin})
	found, _ := s.FindEvents(ctx, model.EventFilter{Categories: []string{model.CategoryAuditLog}, Limit: 10, Visibility: admin})
	evs := found.Events
	if len(evs) != 2 || evs[0].Type != "ALERTS_READ" || evs[0].Actor.ID != "boss" || evs[1].Type != "ALERT_READ" || evs[1].Entity.ID != "2" {
		t.Errorf("audit events %+v", evs)
	}
}

// TestRevokeStopsWatching: a successful REVOKE_CERT job marks the
// certificate revoked; it leaves the watched inventory and its expiry
// alerts resolve. A failed one changes nothing.
func TestRevokeStopsWatching(t *testing.T) {
	for _, c := range []struct {
		name    string
		status  string
		revoked bool
	}{{"Success", model.JobSuccess, true}, {"Failure", model.JobFailed, false}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			cert := testCert(t, "gone.example.test", []string{"gone.example.test"}, time.Now().Add(5*24*time.Hour))
			added, err := s.AddCertificates(ctx, []model.Certificate{cert}, model.CertSourceUpload, model.UserActor("ops"))
			if err != nil {
				t.Fatal(err)
			}
			id := added[0].ID
			if _, _, err := s.RaiseAlert(ctx, model.Alert{Severity: model.SeverityWarn, Type: model.AlertExpiringSoon, Title: "soon", Key: "k", Entity: model.CertificateEntity(id)}); err != nil {
				t.Fatal(err)
			}
			j, _, err := s.CreateJob(ctx, model.Job{Type: model.JobRevokeCert, CertificateID: id, TriggeredBy: model.UserActor("ops"), ScheduledAt: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.ClaimJob(ctx, model.AgentCall{AgentID: "a1"}); err != nil {
				t.Fatal(err)
			}
			r := model.JobResult{Status: c.status, Error: "CA unreachable"}
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.FinishJob(ctx, j.ID, model.AgentCall{AgentID: "a1"}, r, nil); err != nil {
				t.Fatal(err)
			}
			got, _ := s.CertificateByID(ctx, id)
			current, _ := s.CurrentCertificates(ctx)
			open, _, _ := s.FindAlerts(ctx, model.AlertFilter{Open: true})
			if (got.RevokedAt != nil) != c.revoked || (len(current) == 0) != c.revoked || (len(open) == 0) != c.revoked {
				t.Errorf("revoked_at %v, %d watched, %d open alerts", got.RevokedAt, len(current), len(open))
			}
		})
	}
}

// TestRenewalOutcomes: what a successful renewal replaces depends on what
// the agent names as issued.
func TestRenewalOutcomes(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name         string
		issued       func(old, fresh model.Certificate) (string, []model.Certificate)
		wantReplaced bool
		wantBy       bool // replaced by an inventory certificate
	}{
		{"PEMOfTheNewCertificate", func(_, fresh model.Certificate) (string, []model.Certificate) { return "", []model.Certificate{fresh} }, true, true},
		{"FingerprintOfAKnownCertificate", func(_, fresh model.Certificate) (string, []model.Certificate) { return fresh.Fingerprint, nil }, true, true},
		{"IDOfTheCA", func(_, _ model.Certificate) (string, []model.Certificate) { return "ca-req-991", nil }, true, false},
		{"TheOldCertificateItself", func(old, _ model.Certificate) (string, []model.Certificate) { return old.Fingerprint, nil }, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			old := testCert(t, "r.example.test", []string{"r.example.test"}, now.Add(3*24*time.Hour))
			fresh := testCert(t, "other.example.test", []string{"other.example.test"}, now.Add(90*24*time.Hour))
			known := []model.Certificate{old}
			if c.name == "FingerprintOfAKnownCertificate" {
				known = append(known, fresh)
			}
			if _, err := s.AddCertificates(ctx, known, model.CertSourceUpload, model.UserActor("ops")); err != nil {
				t.Fatal(err)
			}
			j, _, err := s.CreateJob(ctx, model.Job{Type: model.JobRenewal, CertificateID: 1, TriggeredBy: model.SchedulerActor, ScheduledAt: now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.ClaimJob(ctx, model.AgentCall{AgentID: "a1"}); err != nil {
				t.Fatal(err)
			}
			ref, pems := c.issued(old, fresh)
			r := model.JobResult{Status: model.JobSuccess, IssuedCertificateID: []byte(`"` + ref + `"`)}
			if ref == "" {
				r.IssuedCertificateID = nil
			}
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			out, err := s.FinishJob(ctx, j.ID, model.AgentCall{AgentID: "a1"}, r, pems)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := s.CertificateByID(ctx, 1)
			if (got.ReplacedAt != nil) != c.wantReplaced || (got.ReplacedBy != nil) != c.wantBy || (len(out.Replaced) == 1) != c.wantReplaced {
				t.Errorf("old certificate replaced_at %v by %v; outcome %+v", got.ReplacedAt, got.ReplacedBy, out.Replaced)
			}
			if out.Job.IssuedCertificateID == "" {
				t.Errorf("job keeps no issued certificate id")
			}
		})
	}
}

// TestSightingsBoundedWhileBusy: events naming ever new certificates do not
// grow the sightings buffer until the next read: once it holds
// SightingsFlushAt of them it is written out by itself, with no read and no
// close, and what is left in memory stays near that bound.
func TestSightingsBoundedWhileBusy(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testDB(t), Options{SightingsFlushAt: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for batch := 0; batch < 10; batch++ {
		events := make([]model.Event, 100)
		for i := range events {
			events[i] = ev(t, fmt.Sprintf(`{"type":"CERT_USED","certificate":{"serial":"%X"}}`, batch*1000+i+1))
		}
		if _, err := s.AppendEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	var written int
	for time.Now().Before(deadline) {
		if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM certificate_usage`).Scan(&written); err != nil {
			t.Fatal(err)
		}
		if written >= 900 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.sightings.mu.Lock()
	held := len(s.sightings.certs)
	s.sightings.mu.Unlock()
	if written < 900 || held > 200 {
		t.Errorf("1,000 certificates seen: %d written without a read, %d still held in memory (bound 100)", written, held)
	}
}
