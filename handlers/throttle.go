package handlers

import (
	"context"
	"sync"
	"time"
)

// loginThrottle slows down password guessing. State is kept in memory and
// there is no permanent lockout.
//
// Per account: at most max failed sign-ins within window, from any
// address. An attempt is reserved before its password is checked and
// counts as a failure until it ends, so parallel guesses get no more
// checked answers than max; further attempts are refused (429) until the
// oldest failure leaves the window. A success clears the account's
// failures.
//
// Per address: failures from one address never refuse an attempt, so one
// account's failures never keep another account's right password out.
// Once an address has max failures (for any accounts) within window, its
// attempts are paced instead: each waits its turn, one per pace, before
// its password is checked. Spraying one password across many accounts from
// one address gets one answer per pace; a right password from that address
// still gets in, after its turn.
type loginThrottle struct {
	max    int
	window time.Duration
	pace   time.Duration
	now    func() time.Time

	mu        sync.Mutex
	accounts  map[string]*failures
	addresses map[string]*failures
}

// failures are the recent failed sign-ins of an account or an address.
type failures struct {
	times    []time.Time // within the window, oldest first
	pending  int         // accounts: attempts reserved and not yet ended
	nextTurn time.Time   // addresses: when the next paced attempt may go
}

// maxThrottleKeys bounds the memory of the throttle; past it, accounts
// and addresses with nothing left to remember are dropped.
const maxThrottleKeys = 10000

// loginPace is how often a paced address may have a password checked.
const loginPace = time.Second

// pendingRetry is the wait announced when an account's limit is taken by
// attempts still being checked: they end within moments.
const pendingRetry = time.Second

func newLoginThrottle(max int, window time.Duration) *loginThrottle {
	return &loginThrottle{
		max: max, window: window, pace: loginPace, now: time.Now,
		accounts: map[string]*failures{}, addresses: map[string]*failures{},
	}
}

// attempt is a sign-in attempt reserved against its account's limit. It
// ends with fail, succeed or release, whichever comes first.
type attempt struct {
	t                *loginThrottle
	account, address string
	ended            bool
}

// reserve reserves an attempt for account from address, or returns how
// long attempts for account must wait (nil attempt).
func (t *loginThrottle) reserve(account, address string) (*attempt, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.evict(now)
	f := t.entry(t.accounts, account, now)
	if n := len(f.times); n >= t.max {
		return nil, f.times[n-t.max].Add(t.window).Sub(now)
	}
	if len(f.times)+f.pending >= t.max {
		return nil, pendingRetry
	}
	f.pending++
	return &attempt{t: t, account: account, address: address}, 0
}

// wait makes the attempt wait for its address's turn when that address is
// paced, and reports whether it had to. It returns ctx's error if ctx ends
// first.
func (a *attempt) wait(ctx context.Context) (bool, error) {
	t := a.t
	t.mu.Lock()
	now := t.now()
	f := t.entry(t.addresses, a.address, now)
	if len(f.times) < t.max {
		t.mu.Unlock()
		return false, nil
	}
	turn := now
	if f.nextTurn.After(now) {
		turn = f.nextTurn
	}
	f.nextTurn = turn.Add(t.pace)
	t.mu.Unlock()
	d := turn.Sub(now)
	if d <= 0 {
		return true, nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true, nil
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

// fail ends the attempt as a failed sign-in. When it made the account
// reach its limit just now, it returns how long the account must wait.
func (a *attempt) fail() time.Duration {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.ended {
		return 0
	}
	a.ended = true
	now := t.now()
	acc := t.entry(t.accounts, a.account, now)
	acc.pending--
	acc.times = append(acc.times, now)
	addr := t.entry(t.addresses, a.address, now)
	addr.times = append(addr.times, now)
	if len(acc.times) != t.max {
		return 0
	}
	return acc.times[0].Add(t.window).Sub(now)
}

// succeed ends the attempt as a sign-in and forgets the account's failures.
func (a *attempt) succeed() { a.end(true) }

// release ends the attempt without counting it (the check did not happen
// or could not answer); after fail or succeed it does nothing.
func (a *attempt) release() { a.end(false) }

// end ends the attempt once: it is no longer pending, and forget drops the
// account's failures.
func (a *attempt) end(forget bool) {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.ended {
		return
	}
	a.ended = true
	acc := t.entry(t.accounts, a.account, t.now())
	acc.pending--
	if forget {
		acc.times = nil
	}
}

// entry returns the failures of key in m, dropping those that left the
// window, and creating the entry if needed.
func (t *loginThrottle) entry(m map[string]*failures, key string, now time.Time) *failures {
	f := m[key]
	if f == nil {
		f = &failures{}
		m[key] = f
	}
	i := 0
	for i < len(f.times) && now.Sub(f.times[i]) >= t.window {
		i++
	}
	f.times = f.times[i:]
	return f
}

// evict drops, past maxThrottleKeys, the entries that remember nothing
// still in force.
func (t *loginThrottle) evict(now time.Time) {
	for _, m := range []map[string]*failures{t.accounts, t.addresses} {
		if len(m) <= maxThrottleKeys {
			continue
		}
		for k, f := range m {
			if len(t.entry(m, k, now).times) == 0 && f.pending == 0 && !f.nextTurn.After(now) {
				delete(m, k)
			}
		}
	}
}
