package store

import (
	"context"
	"sync"

	"vigil/model"
)

// hashGate bounds the password hashes (argon2id, 19 MiB and a core each
// for tens of milliseconds) running at once, so a burst of sign-ins costs
// time, not memory in proportion to the burst.
type hashGate struct {
	slots chan struct{}

	mu                     sync.Mutex
	running, waiting, peak int
}

func newHashGate(limit int) *hashGate {
	return &hashGate{slots: make(chan struct{}, limit)}
}

// PasswordHashes says how many password hashes run and wait now, the most
// that ever ran at once, and the limit.
type PasswordHashes struct {
	Running, Waiting, Peak, Limit int
}

// PasswordHashes reports the password hashes of Authenticate.
func (s *Store) PasswordHashes() PasswordHashes {
	g := s.hashes
	g.mu.Lock()
	defer g.mu.Unlock()
	return PasswordHashes{Running: g.running, Waiting: g.waiting, Peak: g.peak, Limit: cap(g.slots)}
}

// checkPassword checks password against the PHC string hash once a slot
// is free, or returns ctx's error if ctx ends first.
func (g *hashGate) checkPassword(ctx context.Context, hash, password string) (bool, error) {
	g.count(&g.waiting, 1)
	select {
	case g.slots <- struct{}{}:
		g.count(&g.waiting, -1)
	case <-ctx.Done():
		g.count(&g.waiting, -1)
		return false, ctx.Err()
	}
	g.count(&g.running, 1)
	defer func() {
		g.count(&g.running, -1)
		<-g.slots
	}()
	return model.CheckPassword(hash, password), nil
}

func (g *hashGate) count(n *int, d int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	*n += d
	g.peak = max(g.peak, g.running)
}
