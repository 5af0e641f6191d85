package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/testpki"
	"vigil/model"
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

func newScheduler(t *testing.T, st *store.Store, n *Notifier, now time.Time) *Scheduler {
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

// TestWebhookDelivery: a receiver that never accepts leaves the alert
// failed with its attempts and error; one left pending by an earlier run
// is sent on start.
func TestWebhookDelivery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now()
	st := openStore(t, now)
	var mu sync.Mutex
	var down atomic.Bool
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "nope", http.StatusBadGateway)
			return
		}
		mu.Lock()
		got[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
	}))
	defer srv.Close()
	raise := func(key string) model.Alert {
		a, _, err := st.RaiseAlert(context.Background(), model.Alert{Severity: model.SeverityInfo, Type: "TEST", Title: key, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// Left pending by a run that stopped before sending it.
	pending := raise("left-over")
	if err := st.SetAlertDelivery(ctx, pending.ID, model.Delivery{Status: model.DeliveryPending}); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	n, err := NewNotifier(srv.URL, st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, NotifierOptions{Attempts: 3, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	failing := raise("never-accepted")
	n.Notify(ctx, failing)
	waitDelivery := func(id int64, status string) model.Alert {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			a, err := st.AlertByID(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if a.Delivery.Status == status {
				return a
			}
			if time.Now().After(deadline) {
				t.Fatalf("alert %d delivery %+v, want %s", id, a.Delivery, status)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Start sends the left-over first (it fails while the receiver is
	// down), then the queued one.
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	a := waitDelivery(failing.ID, model.DeliveryFailed)
	if a.Delivery.Attempts != 3 || a.Delivery.Error != "receiver answered 502 Bad Gateway" {
		t.Errorf("failed delivery: %+v", a.Delivery)
	}
	if a := waitDelivery(pending.ID, model.DeliveryFailed); a.Delivery.Attempts != 3 {
		t.Errorf("left-over alert was not tried on start: %+v", a.Delivery)
	}
	down.Store(false)
	cancel()
	n.Wait()
	// A new start sends nothing failed again, and alerts pending are sent.
	again := raise("after-restart")
	if err := st.SetAlertDelivery(context.Background(), again.ID, model.Delivery{Status: model.DeliveryPending}); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if err := n.Start(ctx2); err != nil {
		t.Fatal(err)
	}
	waitDelivery(again.ID, model.DeliveryDelivered)
	mu.Lock()
	defer mu.Unlock()
	if got[fmt.Sprintf("vigil-alert-%d", again.ID)] != 1 || got[fmt.Sprintf("vigil-alert-%d", failing.ID)] != 0 {
		t.Errorf("received %v", got)
	}
}
