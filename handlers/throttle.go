package handlers

import (
	"sync"
	"time"
)

// loginThrottle slows down password guessing: after max failed sign-ins
// within window for one account or from one address, further attempts for
// it wait until the oldest of those failures leaves the window. There is
// no permanent lockout. State is kept in memory.
type loginThrottle struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	fails map[string][]time.Time // key → failure times, oldest first
}

// maxThrottleKeys bounds the memory of the throttle; past it, keys whose
// failures all left the window are dropped.
const maxThrottleKeys = 10000

func newLoginThrottle(max int, window time.Duration) *loginThrottle {
	return &loginThrottle{max: max, window: window, now: time.Now, fails: map[string][]time.Time{}}
}

func accountKey(name string) string { return "user:" + name }
func addressKey(ip string) string   { return "ip:" + ip }

// wait returns how long attempts for any of keys must still wait; 0 when
// they may go ahead.
func (t *loginThrottle) wait(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var longest time.Duration
	for _, k := range keys {
		f := t.recent(k, now)
		if len(f) >= t.max {
			longest = max(longest, f[len(f)-t.max].Add(t.window).Sub(now))
		}
	}
	return longest
}

// fail records a failed attempt for each key and reports whether it made
// any of them reach the limit just now.
func (t *loginThrottle) fail(keys ...string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.fails) > maxThrottleKeys {
		for k := range t.fails {
			if len(t.recent(k, now)) == 0 {
				delete(t.fails, k)
			}
		}
	}
	reached := false
	for _, k := range keys {
		f := append(t.recent(k, now), now)
		t.fails[k] = f
		reached = reached || len(f) == t.max
	}
	return reached
}

// succeed forgets the failures of key (an account that signed in).
func (t *loginThrottle) succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, key)
}

// recent returns the failures of key still within the window.
func (t *loginThrottle) recent(key string, now time.Time) []time.Time {
	f := t.fails[key]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= t.window {
		i++
	}
	if i == len(f) {
		delete(t.fails, key)
		return nil
	}
	f = f[i:]
	t.fails[key] = f
	return f
}
