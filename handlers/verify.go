package handlers

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/store"
)

// verifyReuseFor is how long an answer is reused while the tree head stays
// the same: a row edited behind Vigil's back changes no tree head, so even
// an idle appliance verifies afresh now and then.
const verifyReuseFor = 10 * time.Minute

// chainVerifier verifies the chain for GET /api/v1/audit/verify, one
// verification at a time: callers arriving while one runs wait for it and
// share its answer, and the answer is reused, for verifyReuseFor at most,
// while the tree head (size and root) it was computed at is the current one.
type chainVerifier struct {
	st   *store.Store
	now  func() time.Time
	runs prometheus.Counter

	mu      sync.Mutex
	running *verifyRun // the verification under way; nil when none
	last    *verifyRun // the newest one that finished without error
}

// verifyRun is one verification of the chain.
type verifyRun struct {
	head store.TreeHead // current when it started
	at   time.Time      // when it started
	done chan struct{}  // closed when ans and err are set
	ans  verifyAnswer
	err  error
}

// verifyAnswer is the answer of GET /api/v1/audit/verify: the chain report
// (SPEC: ok, checked, first_bad) and when the verification started.
type verifyAnswer struct {
	store.ChainReport
	VerifiedAt string `json:"verified_at"`
}

func newChainVerifier(st *store.Store, now func() time.Time, reg prometheus.Registerer) (*chainVerifier, error) {
	v := &chainVerifier{st: st, now: now, runs: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vigil_audit_verify_runs_total", Help: "Verifications of the whole chain run for GET /api/v1/audit/verify (concurrent calls share one; an unchanged tree is not verified again).",
	})}
	if err := reg.Register(v.runs); err != nil {
		return nil, err
	}
	return v, nil
}

// verify returns the answer for the current tree head: the one kept when
// the head has not changed (and it is recent), else that of the verification under way, else
// that of a new one. The verification goes on when ctx ends (other callers
// may be waiting for it); the caller stops waiting.
func (v *chainVerifier) verify(ctx context.Context, opts store.VerifyOptions) (verifyAnswer, error) {
	head, err := v.st.TreeHead(ctx)
	if err != nil {
		return verifyAnswer{}, err
	}
	v.mu.Lock()
	run := v.running
	if run == nil {
		if l := v.last; l != nil && l.head.Size == head.Size && bytes.Equal(l.head.Root, head.Root) && v.now().Sub(l.at) < verifyReuseFor {
			v.mu.Unlock()
			return l.ans, nil
		}
		run = &verifyRun{head: head, at: v.now(), done: make(chan struct{})}
		v.running = run
		go v.run(context.WithoutCancel(ctx), run, opts)
	}
	v.mu.Unlock()
	select {
	case <-run.done:
		return run.ans, run.err
	case <-ctx.Done():
		return verifyAnswer{}, ctx.Err()
	}
}

func (v *chainVerifier) run(ctx context.Context, run *verifyRun, opts store.VerifyOptions) {
	v.runs.Inc()
	run.ans.VerifiedAt = run.at.UTC().Format(time.RFC3339Nano)
	run.ans.ChainReport, run.err = v.st.VerifyChain(ctx, opts)
	v.mu.Lock()
	v.running = nil
	if run.err == nil {
		v.last = run
	}
	v.mu.Unlock()
	close(run.done)
}
