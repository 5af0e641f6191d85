package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"vigil/model"
)

// byTest and tokenByTest record the changes a test makes.
func byTest(before, after model.User) ([]model.Event, error) {
	return changeEvents("USER_CHANGED", model.Entity{Type: "USER", ID: after.Name})
}

func tokenByTest(t model.Token) ([]model.Event, error) {
	return changeEvents("TOKEN_CHANGED", model.Entity{Type: "TOKEN", ID: fmt.Sprint(t.ID)})
}

func changeEvents(typ string, entity model.Entity) ([]model.Event, error) {
	e, err := model.NewAuditEvent(time.Now(), typ, "SUCCESS", model.UserActor("tester"), entity, "changed by a test", nil)
	return []model.Event{e}, err
}

// TestUserChangesCommitWithAudit: a change of users or tokens is stored
// with the events its caller gives, in one transaction: when they cannot
// be made or stored, or there are none, the change is not made either.
func TestUserChangesCommitWithAudit(t *testing.T) {
	ctx := context.Background()
	changes := []struct {
		name   string
		change func(s *Store, audit UserAudit, tokenAudit TokenAudit) error
		made   func(s *Store) bool
	}{
		{"CreateUser", func(s *Store, a UserAudit, _ TokenAudit) error {
			_, err := s.CreateUser(ctx, "erin", model.RoleViewer, "erin-password-1", a)
			return err
		}, func(s *Store) bool { _, err := s.UserByName(ctx, "erin"); return err == nil }},
		{"SetUserRole", func(s *Store, a UserAudit, _ TokenAudit) error {
			_, err := s.SetUserRole(ctx, "ops", model.RoleViewer, a)
			return err
		}, func(s *Store) bool { u, _ := s.UserByName(ctx, "ops"); return u.Role == model.RoleViewer }},
		{"SetUserDisabled", func(s *Store, a UserAudit, _ TokenAudit) error {
			_, err := s.SetUserDisabled(ctx, "ops", true, a)
			return err
		}, func(s *Store) bool { u, _ := s.UserByName(ctx, "ops"); return u.Disabled }},
		{"SetPassword", func(s *Store, a UserAudit, _ TokenAudit) error {
			_, err := s.SetPassword(ctx, "ops", "another-long-password", a)
			return err
		}, func(s *Store) bool { _, err := s.Authenticate(ctx, "ops", "another-long-password"); return err == nil }},
		{"CreateToken", func(s *Store, _ UserAudit, a TokenAudit) error {
			_, _, err := s.CreateToken(ctx, "ops", "second", model.ScopeRead, "", a)
			return err
		}, func(s *Store) bool { tokens, _ := s.ListTokens(ctx); return len(tokens) == 2 }},
		{"RevokeToken", func(s *Store, _ UserAudit, a TokenAudit) error {
			_, err := s.RevokeToken(ctx, 1, a)
			return err
		}, func(s *Store) bool { tokens, _ := s.ListTokens(ctx); return tokens[0].Revoked }},
	}
	failed := errors.New("the audit record cannot be made")
	for _, how := range []struct {
		name       string
		audit      UserAudit
		tokenAudit TokenAudit
		events     int // stored with the change
		fails      bool
	}{
		{"Recorded", byTest, tokenByTest, 1, false},
		{"RecordFails", func(model.User, model.User) ([]model.Event, error) { return nil, failed },
			func(model.Token) ([]model.Event, error) { return nil, failed }, 0, true},
		{"NoRecord", func(model.User, model.User) ([]model.Event, error) { return nil, nil },
			func(model.Token) ([]model.Event, error) { return nil, nil }, 0, true},
	} {
		for _, tc := range changes {
			t.Run(how.name+"/"+tc.name, func(t *testing.T) {
				s, _ := openClocked(t)
				if _, err := s.CreateUser(ctx, "root", model.RoleAdmin, "root-password-123", byTest); err != nil {
					t.Fatal(err)
				}
				if _, err := s.CreateUser(ctx, "ops", model.RoleOperator, "ops-password-123", byTest); err != nil {
					t.Fatal(err)
				}
				if _, _, err := s.CreateToken(ctx, "ops", "first", model.ScopeRead, "", tokenByTest); err != nil {
					t.Fatal(err)
				}
				before := countEvents(t, s)
				err := tc.change(s, how.audit, how.tokenAudit)
				if (err != nil) != how.fails {
					t.Fatalf("change: %v", err)
				}
				if made := tc.made(s); made == how.fails {
					t.Errorf("change made %v, its record stored %v", made, !how.fails)
				}
				if n := countEvents(t, s) - before; n != how.events {
					t.Errorf("%d events stored with the change, want %d", n, how.events)
				}
			})
		}
	}
}

func countEvents(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return n
}
