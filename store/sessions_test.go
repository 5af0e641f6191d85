package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"vigil/model"
)

// fakeClock is a settable clock for the store.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openClocked(t *testing.T) (*Store, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s, err := Open(context.Background(), testDB(t), Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clock
}

func TestSessionLifetime(t *testing.T) {
	const idle, maxAge = 30 * time.Minute, 2 * time.Hour
	for _, tc := range []struct {
		name    string
		act     func(t *testing.T, s *Store, c *fakeClock, id string)
		wantErr string // error code of the lookup afterwards, "" for a live session
	}{
		{"Fresh", func(*testing.T, *Store, *fakeClock, string) {}, ""},
		{"ActiveWithinIdle", func(t *testing.T, s *Store, c *fakeClock, id string) {
			// Requests every 20 minutes keep it alive past the idle limit.
			for range 4 {
				c.add(20 * time.Minute)
				if _, err := s.PrincipalBySession(context.Background(), id, idle); err != nil {
					t.Fatal(err)
				}
			}
		}, ""},
		{"IdleTooLong", func(_ *testing.T, _ *Store, c *fakeClock, _ string) { c.add(31 * time.Minute) }, model.EUNAUTHORIZED},
		{"PastAbsoluteLimit", func(t *testing.T, s *Store, c *fakeClock, id string) {
			for range 9 {
				c.add(15 * time.Minute)
				s.PrincipalBySession(context.Background(), id, idle)
			}
		}, model.EUNAUTHORIZED},
		{"Deleted", func(t *testing.T, s *Store, _ *fakeClock, id string) {
			if err := s.DeleteSession(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}, model.EUNAUTHORIZED},
		{"PasswordChanged", func(t *testing.T, s *Store, _ *fakeClock, _ string) {
			if _, err := s.SetPassword(context.Background(), "ops", "another-long-password", byTest); err != nil {
				t.Fatal(err)
			}
		}, model.EUNAUTHORIZED},
		{"UserDisabled", func(t *testing.T, s *Store, _ *fakeClock, _ string) {
			if _, err := s.SetUserDisabled(context.Background(), "ops", true, byTest); err != nil {
				t.Fatal(err)
			}
		}, model.EUNAUTHORIZED},
		{"RoleChangedKeepsSession", func(t *testing.T, s *Store, _ *fakeClock, _ string) {
			if _, err := s.SetUserRole(context.Background(), "ops", model.RoleViewer, byTest); err != nil {
				t.Fatal(err)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clock := openClocked(t)
			ctx := context.Background()
			if _, err := s.CreateUser(ctx, "root", model.RoleAdmin, "root-password-123", byTest); err != nil {
				t.Fatal(err)
			}
			u, err := s.CreateUser(ctx, "ops", model.RoleOperator, "ops-password-123", byTest)
			if err != nil {
				t.Fatal(err)
			}
			id, err := s.CreateSession(ctx, u.ID, "192.0.2.1", "test", maxAge)
			if err != nil {
				t.Fatal(err)
			}
			tc.act(t, s, clock, id)
			p, err := s.PrincipalBySession(ctx, id, idle)
			if code := model.ErrorCode(err); code != tc.wantErr {
				t.Fatalf("lookup: error %v, want code %q", err, tc.wantErr)
			}
			if tc.wantErr == "" && p.User.Name != "ops" {
				t.Errorf("session stands for %+v", p)
			}
			if tc.wantErr != "" {
				if n, _ := s.CountSessions(ctx, u.ID); n != 0 {
					t.Errorf("%d sessions left in the table after it ended", n)
				}
			}
		})
	}
}

func TestLastAdminIsKept(t *testing.T) {
	s, _ := openClocked(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "root", model.RoleAdmin, "root-password-123", byTest); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetUserRole(ctx, "root", model.RoleViewer, byTest); model.ErrorCode(err) != model.ECONFLICT {
		t.Errorf("demoting the last admin: %v, want conflict", err)
	}
	if _, err := s.SetUserDisabled(ctx, "root", true, byTest); model.ErrorCode(err) != model.ECONFLICT {
		t.Errorf("disabling the last admin: %v, want conflict", err)
	}
	if _, err := s.CreateUser(ctx, "second", model.RoleAdmin, "second-password-1", byTest); err != nil {
		t.Fatal(err)
	}
	if u, err := s.SetUserRole(ctx, "root", model.RoleViewer, byTest); err != nil || u.Role != model.RoleViewer {
		t.Errorf("demoting one of two admins: %+v %v", u, err)
	}
	if _, err := s.SetUserRole(ctx, "nobody", model.RoleViewer, byTest); model.ErrorCode(err) != model.ENOTFOUND {
		t.Errorf("changing a missing user: %v, want not found", err)
	}
}

func TestRevokeToken(t *testing.T) {
	s, _ := openClocked(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "root", model.RoleAdmin, "root-password-123", byTest); err != nil {
		t.Fatal(err)
	}
	secret, tok, err := s.CreateToken(ctx, "root", "reader", model.ScopeRead, "", tokenByTest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PrincipalByToken(ctx, secret); err != nil {
		t.Fatal(err)
	}
	got, err := s.RevokeToken(ctx, tok.ID, tokenByTest)
	if err != nil || !got.Revoked || got.UserName != "root" {
		t.Fatalf("revoke: %+v %v", got, err)
	}
	if _, err := s.PrincipalByToken(ctx, secret); model.ErrorCode(err) != model.EUNAUTHORIZED {
		t.Errorf("revoked token still works: %v", err)
	}
	if _, err := s.RevokeToken(ctx, tok.ID, tokenByTest); model.ErrorCode(err) != model.ECONFLICT {
		t.Errorf("revoking twice: %v, want conflict", err)
	}
	tokens, err := s.ListTokens(ctx)
	if err != nil || len(tokens) != 1 || !tokens[0].Revoked || tokens[0].LastUsed.IsZero() {
		t.Errorf("token list %+v %v", tokens, err)
	}
}
