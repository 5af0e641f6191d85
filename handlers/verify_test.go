package handlers

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"vigil/store"
)

// verifyRuns reads how often the API has verified the chain from /metrics.
func (e *testEnv) verifyRuns() int {
	e.t.Helper()
	code, body := e.api("GET", "/metrics", "admin/read", "", nil)
	if code != 200 {
		e.t.Fatalf("/metrics: %d", code)
	}
	m := regexp.MustCompile(`(?m)^vigil_audit_verify_runs_total (\d+)$`).FindSubmatch(body)
	if m == nil {
		e.t.Fatalf("/metrics has no vigil_audit_verify_runs_total")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

type verifyResp struct {
	OK         bool   `json:"ok"`
	Checked    int64  `json:"checked"`
	FirstBad   *int64 `json:"first_bad"`
	TreeSize   uint64 `json:"tree_size"`
	VerifiedAt string `json:"verified_at"`
}

func (e *testEnv) verify() verifyResp {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/audit/verify", "auditor/read", "", nil)
	var a verifyResp
	if err := json.Unmarshal(body, &a); code != 200 || err != nil {
		e.t.Errorf("verify: %d %s %v", code, body, err)
	}
	return a
}

// TestVerifyRunsOnceAtATime: parallel calls of GET /api/v1/audit/verify
// share one verification, and a later call at the same tree size answers
// from it; a grown tree is verified again.
func TestVerifyRunsOnceAtATime(t *testing.T) {
	e := newTestEnv(t)
	const events = 5000
	if code, m := e.post(strings.Repeat(`{"message":"v"}`+"\n", events), "application/x-ndjson"); code != 202 {
		t.Fatalf("post: %d %v", code, m)
	}
	const callers = 8
	answers := make([]verifyResp, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i] = e.verify()
		}()
	}
	close(start)
	wg.Wait()
	for i, a := range answers {
		if !a.OK || a.Checked != events || a.FirstBad != nil || a.VerifiedAt == "" || a.VerifiedAt != answers[0].VerifiedAt {
			t.Errorf("caller %d: %+v (first: %+v)", i, a, answers[0])
		}
	}
	if n := e.verifyRuns(); n != 1 {
		t.Errorf("%d parallel calls verified the chain %d times, want once", callers, n)
	}
	if a := e.verify(); a.VerifiedAt != answers[0].VerifiedAt || a.Checked != events {
		t.Errorf("same tree size: %+v, want the answer of %s", a, answers[0].VerifiedAt)
	}
	if n := e.verifyRuns(); n != 1 {
		t.Errorf("a call at the same tree size verified again (%d runs)", n)
	}

	if code, m := e.post(`{"message":"one more"}`, "application/json"); code != 202 {
		t.Fatalf("post: %d %v", code, m)
	}
	if a := e.verify(); !a.OK || a.Checked != events+1 {
		t.Errorf("after one more event: %+v", a)
	}
	if n := e.verifyRuns(); n != 2 {
		t.Errorf("a grown tree: %d runs, want 2", n)
	}
}

// TestVerifyAnswerAges: an answer is reused at the same tree head for
// verifyReuseFor at most; after that the chain is verified again.
func TestVerifyAnswerAges(t *testing.T) {
	e := newTestEnv(t)
	if code, m := e.post(`{"message":"v"}`, "application/json"); code != 202 {
		t.Fatalf("post: %d %v", code, m)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	v, err := newChainVerifier(e.st, func() time.Time { return now }, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, step := range []struct {
		after time.Duration
		runs  float64
	}{{0, 1}, {verifyReuseFor - time.Second, 1}, {time.Second, 2}, {time.Minute, 2}} {
		now = now.Add(step.after)
		a, err := v.verify(ctx, store.VerifyOptions{})
		if err != nil || !a.OK || a.Checked != 1 {
			t.Fatalf("step %d: %+v %v", i, a, err)
		}
		var m dto.Metric
		if err := v.runs.Write(&m); err != nil {
			t.Fatal(err)
		}
		if runs := m.GetCounter().GetValue(); runs != step.runs {
			t.Errorf("step %d (+%s): %v runs, want %v", i, step.after, runs, step.runs)
		}
	}
}
