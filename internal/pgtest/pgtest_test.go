package pgtest

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServerGivesEachTestItsDatabase: a started server listens on a
// loopback port only, each database is its own, and Kill stops it.
func TestServerGivesEachTestItsDatabase(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := s.NewDatabase(t), s.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases at one URL %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, `CREATE TABLE t (n int); INSERT INTO t VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := ca.QueryRow(ctx, `SELECT n FROM t`).Scan(&n); err != nil || n != 42 {
		t.Fatalf("read back %d, %v; want 42", n, err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	if err := cb.QueryRow(ctx, `SELECT n FROM t`).Scan(&n); err == nil {
		t.Fatalf("the second database sees the first one's table")
	}
	var listen string
	if err := ca.QueryRow(ctx, `SHOW listen_addresses`).Scan(&listen); err != nil || listen != "127.0.0.1" {
		t.Fatalf("listen_addresses %q, %v; want 127.0.0.1", listen, err)
	}

	s.Kill(t)
	if _, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), time.Second); err == nil {
		t.Fatalf("port %d still accepts connections after Kill", s.port)
	}
	if err := ca.Ping(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping after Kill: %v, want a refused connection", err)
	}
}
