package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "vigil.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestWebhookDelivery: a receiver that never accepts leaves the alert
// failed with its attempts and error; one left pending by an earlier run
// is sent on start.
func TestWebhookDelivery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openStore(t)
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
	n, err := New(srv.URL, st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, Options{Attempts: 3, Backoff: time.Millisecond})
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

// TestWebhookCertificateAndReminders: an alert about an endpoint or a
// renewal job carries the certificate it is about and where it is
// served; a reminder is posted under its own idempotency key with its
// count.
func TestWebhookCertificateAndReminders(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openStore(t)
	type received struct {
		key   string
		alert map[string]any
	}
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Alert map[string]any `json:"alert"`
		}
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("payload: %v", err)
		}
		got <- received{r.Header.Get("Idempotency-Key"), p.Alert}
	}))
	defer srv.Close()
	now := time.Now()
	ca := testpki.NewCA(t)
	www := ca.Issue(t, "www.example.test", []string{"www.example.test"}, now.Add(-time.Hour), now.Add(10*24*time.Hour))
	added, err := st.AddCertificates(ctx, []model.Certificate{model.CertificateFromX509(www.X509)}, model.CertSourceUpload, model.UserActor("t"))
	if err != nil {
		t.Fatal(err)
	}
	cert := added[0].Certificate
	ep, err := st.AddEndpoint(ctx, model.Endpoint{Host: "10.0.4.12", Port: 443, ServerName: "www.example.test", ExpectedFingerprint: cert.Fingerprint}, model.UserActor("t"))
	if err != nil {
		t.Fatal(err)
	}
	job, _, err := st.CreateJob(ctx, model.Job{Type: model.JobRenewal, Name: "Renew", CertificateID: cert.ID, TriggeredBy: model.SchedulerActor, ScheduledAt: now})
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(srv.URL, st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, Options{Attempts: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	next := func() received {
		t.Helper()
		select {
		case r := <-got:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("nothing received")
		}
		return received{}
	}
	for typ, e := range map[string]model.Entity{model.AlertDeploymentFailed: model.EndpointEntity(ep.ID), model.AlertRenewalFailed: model.JobEntity(job.ID)} {
		a, _, err := st.RaiseAlert(ctx, model.Alert{Severity: model.SeverityError, Type: typ, Title: "t", Key: typ, Entity: e})
		if err != nil {
			t.Fatal(err)
		}
		n.Notify(ctx, a)
		r := next()
		c, _ := r.alert["certificate"].(map[string]any)
		eps, _ := c["endpoints"].([]any)
		if c["id"] != float64(cert.ID) || c["serial"] != cert.Serial || c["fingerprint"] != cert.Fingerprint || c["subject"] != cert.Subject ||
			len(eps) != 1 || eps[0].(map[string]any)["expected"] != true || eps[0].(map[string]any)["serving"] != false || r.alert["days_left"] != 9.0 {
			t.Errorf("alert about %s: %v", e.Type, r.alert)
		}
		if r.key != fmt.Sprintf("vigil-alert-%d", a.ID) || r.alert["reminders"] != 0.0 {
			t.Errorf("first delivery: key %q reminders %v", r.key, r.alert["reminders"])
		}
		if e.Type != "JOB" {
			continue
		}
		a, err = st.MarkReminded(ctx, a.ID, now)
		if err != nil {
			t.Fatal(err)
		}
		n.Notify(ctx, a)
		if r := next(); r.key != fmt.Sprintf("vigil-alert-%d-reminder-1", a.ID) || r.alert["reminders"] != 1.0 {
			t.Errorf("reminder: key %q reminders %v", r.key, r.alert["reminders"])
		}
	}
}
