package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"vigil/model"
)

// TestAuthenticateWaitsForAHashSlot: with every hash slot taken, a check
// waits; one whose context ends gives up with the context's error, and a
// freed slot lets the next one through.
func TestAuthenticateWaitsForAHashSlot(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "alice", "viewer", "alice-password-1", byTest); err != nil {
		t.Fatal(err)
	}
	limit := s.PasswordHashes().Limit
	for range limit {
		s.hashes.slots <- struct{}{} // busy elsewhere
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.Authenticate(short, "alice", "alice-password-1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with every slot taken: %v, want the context's deadline", err)
	}
	if got := s.PasswordHashes(); got.Waiting != 0 || got.Running != 0 {
		t.Errorf("after giving up: %+v", got)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Authenticate(ctx, "alice", "alice-password-1")
		done <- err
	}()
	for s.PasswordHashes().Waiting != 1 {
		time.Sleep(time.Millisecond)
	}
	<-s.hashes.slots
	if err := <-done; err != nil {
		t.Fatalf("after a slot was freed: %v", err)
	}
	for range limit - 1 {
		<-s.hashes.slots
	}
	if _, err := s.Authenticate(ctx, "nobody", "alice-password-1"); model.ErrorCode(err) != model.EUNAUTHORIZED {
		t.Errorf("unknown user: %v", err)
	}
	if got := s.PasswordHashes(); got.Peak != 1 || got.Limit < 1 {
		t.Errorf("stats %+v: want a peak of 1 (one check at a time here)", got)
	}
}
