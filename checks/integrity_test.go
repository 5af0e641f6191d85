package checks

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/internal/testpki"
	"vigil/model"
	"vigil/notify"
	"vigil/store"
)

// TestRetentionCheck runs retention at a chosen instant: events older than
// the limit go, AUDIT_LOG events are kept longer, the run's audit event
// records what was removed and where the chain continues, and the chain
// still verifies.
func TestRetentionCheck(t *testing.T) {
	ctx := context.Background()
	received := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := openStore(t, received)
	var evs []model.Event
	for i := 0; i < 700; i++ {
		e := model.Event{Message: fmt.Sprintf("event %d", i), Source: model.SourceHTTP}
		if i%100 == 0 {
			e.Category = model.CategoryAuditLog
		}
		if err := e.Normalize(received); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if _, err := st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	now := received.Add(48 * time.Hour)
	s, err := New(Config{ExpiryDays: []int{30}, AgentOfflineAfter: time.Minute, JobStuckAfter: time.Hour,
		Retention: 24 * time.Hour, RetentionAudit: 30 * 24 * time.Hour},
		st, nil, fixedClock{now}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.RunCheck(ctx, CheckRetention)
	if err != nil {
		t.Fatal(err)
	}
	// The newest 256-event block (ids 513-700) is always kept. Event 1 is
	// AUDIT_LOG and kept, so nothing is removed; the other events of 1-512
	// are redacted, the AUDIT_LOG ones (1, 101, ..., 501) stay whole, under
	// retention record 701.
	if rep.Details["removed"] != int64(0) || rep.Details["redacted"] != int64(506) || rep.Details["retention_record"] != int64(701) ||
		rep.Details["chain_base_id"] != int64(0) {
		t.Fatalf("report %+v", rep)
	}
	v, err := st.VerifyChain(ctx, store.VerifyOptions{})
	if err != nil || !v.OK || v.Redacted != 506 || v.RetentionRecord != 701 {
		t.Fatalf("verify after retention: %+v %v", v, err)
	}
	// In chunks of ids, as the scheduled verification reads, it is the same.
	if c, err := st.VerifyChain(ctx, store.VerifyOptions{Chunk: 50}); err != nil || c != v {
		t.Fatalf("verify in chunks after retention: %+v %v, want %+v", c, err, v)
	}
	found, err := st.FindEvents(ctx, model.EventFilter{Type: "SCHEDULER_RUN", Limit: 10, Visibility: model.VisibilityFor(model.User{Role: model.RoleAdmin})})
	runs := found.Events
	if err != nil || len(runs) != 1 || runs[0].Category != model.CategoryAuditLog || runs[0].Actor.Type != "SYSTEM" {
		t.Fatalf("retention run not recorded: %+v %v", runs, err)
	}
	var d map[string]any
	json.Unmarshal(runs[0].Details, &d)
	if d["redacted"] != float64(506) || d["retention_record"] != float64(701) || d["chain_base_hash"] == "" || d["cutoff"] != "2026-01-02T00:00:00Z" {
		t.Fatalf("recorded details %v", d)
	}
}

// TestCheckpointCheck signs a checkpoint and sends copies off the box: to
// the webhook (retried past a failure) and to a remote syslog receiver.
func TestCheckpointCheck(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	st := openStore(t, now)
	var evs []model.Event
	for i := 0; i < 10; i++ {
		e := model.Event{Message: "x", Source: model.SourceHTTP}
		e.Normalize(now)
		evs = append(evs, e)
	}
	st.AppendEvents(ctx, evs)
	key, err := model.ParseCheckpointKey(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}

	posts := make(chan []byte, 4)
	failures := 1
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if failures > 0 {
			failures--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		posts <- b
	}))
	defer hook.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		n, _ := r.ReadString(' ')
		size, _ := strconv.Atoi(strings.TrimSpace(n))
		buf := make([]byte, size)
		io.ReadFull(r, buf)
		received <- string(buf)
	}()

	bg, cancel := context.WithCancel(ctx)
	defer cancel()
	n, err := notify.New(hook.URL, st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, notify.Options{Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n.Start(bg)
	s, err := New(Config{ExpiryDays: []int{30}, AgentOfflineAfter: time.Minute, JobStuckAfter: time.Hour,
		CheckpointKey: key, CheckpointSyslog: ln.Addr().String()},
		st, n, fixedClock{now}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.RunCheck(ctx, CheckCheckpoint)
	if err != nil || rep.Details["tree_size"] != uint64(10) {
		t.Fatalf("checkpoint run: %+v %v", rep, err)
	}
	select {
	case b := <-posts:
		var p struct {
			Kind       string `json:"kind"`
			Checkpoint struct {
				TreeSize uint64 `json:"tree_size"`
				Note     string `json:"checkpoint"`
			} `json:"checkpoint"`
		}
		json.Unmarshal(b, &p)
		cp, err := model.OpenCheckpoint([]byte(p.Checkpoint.Note), key.PublicKey())
		if p.Kind != "checkpoint" || err != nil || cp.Size != 10 {
			t.Fatalf("webhook got %s (%v)", b, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the webhook never got the checkpoint")
	}
	select {
	case msg := <-received:
		if !strings.Contains(msg, " CHECKPOINT ") || !strings.Contains(msg, key.Origin()+"\n10\n") {
			t.Fatalf("syslog receiver got %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the syslog receiver never got the checkpoint")
	}
}

func mustKey(t *testing.T) string {
	k, err := model.NewCheckpointKeyText("test.example/vigil")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRetentionCheckAppliesRulesAndHolds runs retention with the rules and
// holds set in Settings and no --retention: acme's events go after a day,
// beta's would too but a legal hold keeps them.
func TestRetentionCheckAppliesRulesAndHolds(t *testing.T) {
	ctx := context.Background()
	received := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := openStore(t, received)
	var evs []model.Event
	for i := 0; i < 700; i++ {
		e := model.Event{Message: fmt.Sprintf("event %d", i), Source: model.SourceHTTP, Tenant: []string{"", "acme", "beta"}[i%3]}
		if err := e.Normalize(received); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if _, err := st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	admin := model.UserActor("root")
	for _, tenant := range []string{"acme", "beta"} {
		if _, err := st.SetRetentionRule(ctx, model.RetentionRule{Tenant: tenant, Keep: 24 * time.Hour}, admin); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.PlaceLegalHold(ctx, model.LegalHold{Tenant: "beta", Reason: "case 12"}, admin); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{ExpiryDays: []int{30}, AgentOfflineAfter: time.Minute, JobStuckAfter: time.Hour},
		st, nil, fixedClock{received.Add(48 * time.Hour)}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.RunCheck(ctx, CheckRetention)
	if err != nil {
		t.Fatal(err)
	}
	// Of ids 1-512 (the newest block is kept), acme's are 2, 5, ..., 512.
	if rep.Details["removed"] != int64(0) || rep.Details["redacted"] != int64(171) || rep.Details["retention_record"] != int64(704) ||
		rep.Details["rules"] != 4 || rep.Details["legal_holds"] != 1 {
		t.Fatalf("report %+v", rep)
	}
	if v, err := st.VerifyChain(ctx, store.VerifyOptions{}); err != nil || !v.OK || v.Redacted != 171 {
		t.Fatalf("verify after retention: %+v %v", v, err)
	}
}

// TestScheduledCheckpointTimestamp has a local TSA stamp the scheduled
// checkpoints: a stamped one carries its token; while the TSA is down a
// checkpoint is still stored, without a token, the run fails saying so and
// one WARN alert is open; once the TSA is back the next checkpoint is
// stamped and the alert resolved.
func TestScheduledCheckpointTimestamp(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	st := openStore(t, now)
	key, err := model.ParseCheckpointKey(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	tsa := testpki.StartTSA(t)
	s, err := New(Config{ExpiryDays: []int{30}, AgentOfflineAfter: time.Minute, JobStuckAfter: time.Hour,
		CheckpointKey: key, TSAURL: tsa.URL},
		st, nil, fixedClock{now}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	latest := func() store.StoredCheckpoint {
		cp, err := st.LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	openAlerts := func() []model.Alert {
		a, err := st.OpenAlertsOfType(ctx, model.AlertTimestampFailed)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	if rep, err := s.RunCheck(ctx, CheckCheckpoint); err != nil || rep.Details["timestamp_time"] == nil {
		t.Fatalf("stamped run: %+v %v", rep, err)
	}
	cp := latest()
	if cp.Timestamp == nil {
		t.Fatal("the checkpoint was stored without its token")
	}
	if _, err := model.OpenTimestamp(cp.Timestamp.Token, model.CheckpointDigest(cp.Note), nil); err != nil {
		t.Fatalf("stored token: %v", err)
	}

	tsa.SetDown(true)
	for i := 0; i < 2; i++ {
		_, err := s.RunCheck(ctx, CheckCheckpoint)
		if err == nil || !strings.Contains(err.Error(), "without a trusted time") || !strings.Contains(err.Error(), "503") {
			t.Fatalf("run while the TSA is down: %v", err)
		}
	}
	if cp := latest(); cp.ID != 3 || cp.Timestamp != nil {
		t.Fatalf("checkpoint while the TSA is down: %+v", cp)
	}
	if a := openAlerts(); len(a) != 1 || a[0].Severity != model.SeverityWarn || a[0].Entity.ID != "2" {
		t.Fatalf("alerts while the TSA is down: %+v", a)
	}
	found, err := st.FindEvents(ctx, model.EventFilter{Type: "SCHEDULER_RUN", Outcome: "FAILURE", Limit: 10,
		Visibility: model.VisibilityFor(model.User{Role: model.RoleAdmin})})
	if err != nil || len(found.Events) != 2 || !strings.Contains(found.Events[0].Message, "without a trusted time") {
		t.Fatalf("failed runs not recorded: %+v %v", found.Events, err)
	}

	tsa.SetDown(false)
	if _, err := s.RunCheck(ctx, CheckCheckpoint); err != nil {
		t.Fatal(err)
	}
	if cp := latest(); cp.ID != 4 || cp.Timestamp == nil {
		t.Fatalf("checkpoint once the TSA is back: %+v", cp)
	}
	if a := openAlerts(); len(a) != 0 {
		t.Fatalf("alert still open: %+v", a)
	}
}

// TestVerifyStopsWithScheduler: a verification cut short by Stop says so
// and finds nothing: no alert, no recorded result.
func TestVerifyStopsWithScheduler(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	st := openStore(t, now)
	s := newScheduler(t, st, nil, now)
	s.Stop()
	_, err := s.RunCheck(ctx, CheckVerify)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("verify after Stop: %v", err)
	}
	if a, err := st.OpenAlertsOfType(ctx, model.AlertIntegrityFailed); err != nil || len(a) != 0 {
		t.Fatalf("alerts: %+v %v", a, err)
	}
	if _, err := st.LatestVerifyRun(ctx); model.ErrorCode(err) != model.ENOTFOUND {
		t.Fatalf("a result was recorded: %v", err)
	}
}
