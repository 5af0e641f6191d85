package store

import (
	"context"
	"database/sql"
	"sync"
)

// schedulerLockKey is the advisory lock whose holder runs the scheduled
// checks when several nodes share a PostgreSQL database.
const schedulerLockKey = 0x5669_6769_6c00_0003

// lease is the scheduler's lock on PostgreSQL: a session-level advisory
// lock held on a connection of its own. It is this node's while the
// connection lives; when the node dies the connection closes, PostgreSQL
// frees the lock, and the next node to ask takes it.
type lease struct {
	mu   sync.Mutex
	db   *sql.DB   // one connection, for the lock only
	conn *sql.Conn // holds the lock while held
}

// LeadsScheduler reports whether this process is the one to run the
// scheduled checks: on SQLite always (one box); on PostgreSQL when it
// holds, or now takes, the scheduler's advisory lock. Each call checks the
// lock's connection, so a node that lost it (the database restarted, the
// connection dropped) stops leading at its next call.
func (s *Store) LeadsScheduler(ctx context.Context) bool {
	if s.lease == nil {
		return true
	}
	return s.lease.hold(ctx)
}

// Shared reports whether the database may be shared by several nodes
// (PostgreSQL).
func (s *Store) Shared() bool { return s.lease != nil }

func (l *lease) hold(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		if err := l.conn.PingContext(ctx); err == nil {
			return true
		}
		l.conn.Close()
		l.conn = nil
	}
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return false
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(?)`, int64(schedulerLockKey)).Scan(&got); err != nil || !got {
		conn.Close()
		return false
	}
	l.conn = conn
	return true
}

// close gives the lock up (closing its connection frees it).
func (l *lease) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(?)`, int64(schedulerLockKey))
		l.conn.Close()
		l.conn = nil
	}
	l.db.Close()
}
