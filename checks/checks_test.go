package checks

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"vigil/internal/testpki"
	"vigil/model"
	"vigil/notify"
	"vigil/store"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func openStore(t *testing.T, now time.Time) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "vigil.db"),
		store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newScheduler(t *testing.T, st *store.Store, n *notify.Notifier, now time.Time) *Scheduler {
	t.Helper()
	s, err := New(Config{ExpiryDays: []int{1, 30, 7, 14}, AgentOfflineAfter: time.Minute, JobStuckAfter: time.Hour, DialTimeout: 5 * time.Second},
		st, n, fixedClock{now}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// certExpiringAt returns a certificate for cn that expires at notAfter.
func certExpiringAt(t *testing.T, cn string, notAfter time.Time) model.Certificate {
	t.Helper()
	c := testpki.NewCA(t).Issue(t, cn, []string{cn}, notAfter.Add(-365*day), notAfter)
	return model.CertificateFromX509(c.X509)
}

// TestExpiryThresholds runs the expiry check once per certificate at a
// chosen instant: the alert names the tightest threshold crossed; an
// expired certificate gets EXPIRED at ERROR; each gets one renewal.
func TestExpiryThresholds(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		left     time.Duration
		wantKey  string // "" for no alert
		severity string
	}{
		{"FarOut", 40 * day, "", ""},
		{"JustPast30", 30*day - time.Second, "EXPIRING_SOON:cert:1:30", model.SeverityWarn},
		{"Within14", 13 * day, "EXPIRING_SOON:cert:1:14", model.SeverityWarn},
		{"Exactly7", 7 * day, "EXPIRING_SOON:cert:1:7", model.SeverityWarn},
		{"HalfADay", 12 * time.Hour, "EXPIRING_SOON:cert:1:1", model.SeverityWarn},
		{"Expired", -time.Hour, "EXPIRED:cert:1", model.SeverityError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			st := openStore(t, now)
			if _, err := st.AddCertificates(ctx, []model.Certificate{certExpiringAt(t, "x.example.test", now.Add(c.left))}, model.CertSourceUpload, model.UserActor("t")); err != nil {
				t.Fatal(err)
			}
			s := newScheduler(t, st, nil, now)
			for range 2 {
				if _, err := s.RunCheck(ctx, CheckExpiry); err != nil {
					t.Fatal(err)
				}
			}
			alerts, _, err := st.FindAlerts(ctx, model.AlertFilter{})
			if err != nil {
				t.Fatal(err)
			}
			jobs, _, err := st.FindJobs(ctx, model.JobFilter{Type: model.JobRenewal})
			if err != nil {
				t.Fatal(err)
			}
			if c.wantKey == "" {
				if len(alerts) != 0 || len(jobs) != 0 {
					t.Fatalf("alerts %+v jobs %+v, want none", alerts, jobs)
				}
				return
			}
			if len(alerts) != 1 || alerts[0].Key != c.wantKey || alerts[0].Severity != c.severity {
				t.Errorf("alerts %+v, want one %s at %s", alerts, c.wantKey, c.severity)
			}
			if len(jobs) != 1 || jobs[0].Status != model.JobQueued || jobs[0].CertificateID != 1 {
				t.Errorf("renewal jobs %+v, want one QUEUED", jobs)
			}
		})
	}
}

// TestChecksNeverOverlap holds a deployment check on an endpoint that
// accepts but never answers: a second run of that check is refused while
// the first runs, other checks are not held up.
func TestChecksNeverOverlap(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	st := openStore(t, now)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	if _, err := st.AddEndpoint(ctx, model.Endpoint{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}, model.UserActor("t")); err != nil {
		t.Fatal(err)
	}
	s := newScheduler(t, st, nil, now)
	first := make(chan error, 1)
	go func() { _, err := s.RunCheck(ctx, CheckDeploy); first <- err }()
	conn := <-accepted
	if _, err := s.RunCheck(ctx, CheckDeploy); !errors.Is(err, ErrBusy) {
		t.Errorf("second deploy run: %v, want ErrBusy", err)
	}
	if _, err := s.RunCheck(ctx, CheckAgents); err != nil {
		t.Errorf("agents check while deploy runs: %v", err)
	}
	conn.Close()
	if err := <-first; err != nil {
		t.Fatalf("first run: %v", err)
	}
	jobs, _, _ := st.FindJobs(ctx, model.JobFilter{})
	if len(jobs) != 1 || jobs[0].Status != model.JobFailed {
		t.Errorf("jobs after the held run: %+v", jobs)
	}
}
