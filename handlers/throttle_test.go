package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestParallelGuessesReserveAttempts: the attempt is counted before the
// password is checked, so a burst of parallel guesses for one account gets
// no more checked answers than the limit; the rest wait (429).
func TestParallelGuessesReserveAttempts(t *testing.T) {
	env := newTestEnv(t)
	const guesses = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	var errs []error
	for i := range guesses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, h, err := env.tryLogin("admin", fmt.Sprintf("wrong-guess-%03d", i), "/", nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			codes[code]++
			if code == http.StatusTooManyRequests {
				if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
					errs = append(errs, fmt.Errorf("429 with Retry-After %q", h.Get("Retry-After")))
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d requests failed, first: %v", len(errs), errs[0])
	}
	checked := env.metric(`vigil_console_logins_total{result="failed"}`)
	t.Logf("answers %v, checked %v", codes, checked)
	if checked > 10 || codes[http.StatusUnauthorized] > 10 {
		t.Errorf("%v wrong passwords were checked (%d answered 401), want at most the limit of 10", checked, codes[http.StatusUnauthorized])
	}
	if codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != guesses {
		t.Errorf("answers %v: want only 401 and 429", codes)
	}
	var n int
	if err := dbCount(env, `SELECT count(*) FROM events WHERE type = 'E_LOGIN_FAILED' AND actor_id = 'admin' AND category = 'AUTH'`, &n); err != nil || n > 10 {
		t.Errorf("%d E_LOGIN_FAILED events for admin (%v), want at most 10", n, err)
	}
}

// TestOtherAccountNotLockedOut: failures for one account never refuse
// another account's right password from the same address.
func TestOtherAccountNotLockedOut(t *testing.T) {
	env := newTestEnv(t)
	for i := range 10 {
		code, _, err := env.tryLogin("operator", fmt.Sprintf("wrong-guess-%02d", i), "/", nil)
		if err != nil || (code != http.StatusUnauthorized && code != http.StatusTooManyRequests) {
			t.Fatalf("guess %d: %d %v", i, code, err)
		}
	}
	if code, _, _ := env.tryLogin("operator", password("operator"), "/", nil); code != http.StatusTooManyRequests {
		t.Errorf("the guessed account's own password after 10 failures: %d, want 429", code)
	}
	if code, _, _ := env.tryLogin("auditor", password("auditor"), "/", nil); code != http.StatusSeeOther {
		t.Errorf("another account's right password from the same address: %d, want 303", code)
	}
	if code, _, _ := env.tryLogin("viewer", "not-the-password", "/", nil); code != http.StatusUnauthorized {
		t.Errorf("another account's wrong password from the same address: %d, want 401 (checked, not refused)", code)
	}
	// The address has 10 failures: its attempts wait their turn instead.
	if n := env.metric("vigil_console_logins_paced_total"); n != 2 {
		t.Errorf("%v sign-ins paced, want 2 (auditor and viewer after the address's 10 failures)", n)
	}
}

func TestThrottleWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := newLoginThrottle(3, 5*time.Minute)
	th.now = func() time.Time { return now }
	ctx := context.Background()
	for i := range 3 {
		a, w := th.reserve("alice", "192.0.2.7")
		if a == nil {
			t.Fatalf("attempt %d must wait %v before the limit", i+1, w)
		}
		if paced, err := a.wait(ctx); paced || err != nil {
			t.Errorf("attempt %d paced=%v %v before the address reached the limit", i+1, paced, err)
		}
		locked := a.fail()
		if (locked > 0) != (i == 2) {
			t.Errorf("attempt %d: locked for %v", i+1, locked)
		}
		if i == 2 && locked != 3*time.Minute {
			t.Errorf("the third failure locks for %v, want 3m (until the first leaves the window)", locked)
		}
		now = now.Add(time.Minute)
	}
	if _, w := th.reserve("alice", "192.0.2.8"); w != 2*time.Minute {
		t.Errorf("after 3 failures in 3 minutes the account waits %v from any address, want 2m", w)
	}
	b, w := th.reserve("bob", "192.0.2.7")
	if b == nil {
		t.Fatalf("another account from the same address is refused for %v", w)
	}
	// The address reached the limit: bob's attempt is paced, not refused.
	start := time.Now()
	if paced, err := b.wait(ctx); !paced || err != nil {
		t.Errorf("bob from the address with 3 failures: paced=%v %v", paced, err)
	}
	b.succeed()
	if time.Since(start) > 5*time.Second {
		t.Errorf("the first paced attempt waited %v", time.Since(start))
	}
	// The next paced attempt waits its turn; a caller that gives up leaves.
	c, _ := th.reserve("carol", "192.0.2.7")
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if paced, err := c.wait(gone); !paced || err == nil {
		t.Errorf("carol's wait with an ended context: paced=%v err=%v, want the context's error", paced, err)
	}
	c.release()
	now = now.Add(2 * time.Minute)
	a, w := th.reserve("alice", "192.0.2.7")
	if a == nil {
		t.Fatalf("no permanent lockout: still waiting %v once the first failure left the window", w)
	}
	a.succeed()
	a.fail() // ended already: no effect
	for i := range 3 {
		if a, w := th.reserve("alice", "192.0.2.7"); a == nil {
			t.Errorf("a success did not clear the account: attempt %d waits %v", i+1, w)
		}
	}
}

// TestThrottleReservesPending: attempts being checked count against the
// limit, and ending them gives their place back.
func TestThrottleReservesPending(t *testing.T) {
	th := newLoginThrottle(2, time.Minute)
	a1, _ := th.reserve("alice", "192.0.2.7")
	a2, _ := th.reserve("alice", "192.0.2.7")
	if a, w := th.reserve("alice", "192.0.2.8"); a != nil || w != pendingRetry {
		t.Fatalf("a third attempt while two are checked: %v, wait %v; want refused for %v", a, w, pendingRetry)
	}
	a1.release()
	a3, _ := th.reserve("alice", "192.0.2.7")
	if a3 == nil {
		t.Fatalf("a released attempt did not give its place back")
	}
	a2.fail()
	a3.fail()
	if a, w := th.reserve("alice", "192.0.2.7"); a != nil || w <= pendingRetry {
		t.Errorf("after 2 failures: %v, wait %v; want refused until the window ends", a, w)
	}
}

// TestPasswordHashesBounded: a burst of bad sign-ins, each for another
// name from another address (so no throttle holds them back), runs no more
// password hashes at once than there are cores.
func TestPasswordHashesBounded(t *testing.T) {
	env := newTestEnv(t, withConfig(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}))
	const burst = 150
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := http.Header{"X-Forwarded-For": {fmt.Sprintf("198.51.100.%d", i)}}
			code, _, err := env.tryLogin(fmt.Sprintf("guess-%03d", i), "wrong-password", "/", h)
			if err != nil {
				code = -1
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[http.StatusUnauthorized] != burst {
		t.Errorf("answers %v: want %d × 401 (each checked)", codes, burst)
	}
	got := env.st.PasswordHashes()
	t.Logf("password hashes: %+v on %d cores", got, runtime.NumCPU())
	if got.Peak < 1 || got.Peak > runtime.NumCPU() {
		t.Errorf("%d password hashes ran at once, want at most %d (the cores)", got.Peak, runtime.NumCPU())
	}
	if got.Running != 0 || got.Waiting != 0 {
		t.Errorf("after the burst %d hashes run and %d wait", got.Running, got.Waiting)
	}
}
