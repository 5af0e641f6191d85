package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"vigil/model"
)

// sessionTouchEvery limits how often a session's last activity is written.
const sessionTouchEvery = time.Minute

// CreateSession starts a console session for user userID that ends at the
// latest after maxAge, and returns its secret id (for the cookie; only its
// hash is stored). Expired sessions of every user are purged on the way.
func (s *Store) CreateSession(ctx context.Context, userID int64, ip, userAgent string, maxAge time.Duration) (string, error) {
	id := model.NewSecret(32)
	now := s.now().UTC()
	if len(userAgent) > 256 {
		userAgent = userAgent[:256]
	}
	if _, err := s.wdb.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, timeText(now)); err != nil {
		return "", writeFailed("purge sessions", err)
	}
	_, err := s.wdb.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		model.TokenHash(id), userID, timeText(now), timeText(now), timeText(now.Add(maxAge)), nullStr(ip), nullStr(userAgent))
	if err != nil {
		return "", writeFailed("create session", err)
	}
	return id, nil
}

// PrincipalBySession returns who session id stands for. A session unknown,
// past its absolute expiry, idle for longer than idle, or of a disabled
// user is EUNAUTHORIZED (and an expired one is removed).
func (s *Store) PrincipalBySession(ctx context.Context, id string, idle time.Duration) (model.Principal, error) {
	var p model.Principal
	var lastSeen, expires string
	hash := model.TokenHash(id)
	err := s.rdb.QueryRowContext(ctx, `
		SELECT s.last_seen_at, s.expires_at, u.id, u.name, u.role, u.created_at, u.disabled
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = ?`, hash).
		Scan(&lastSeen, &expires, &p.User.ID, &p.User.Name, &p.User.Role, new(string), &p.User.Disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return model.Principal{}, model.Errorf(model.EUNAUTHORIZED, "your session has ended; sign in again")
	}
	if err != nil {
		return model.Principal{}, fmt.Errorf("store: session: %w", err)
	}
	now := s.now().UTC()
	last := parseTimeText(lastSeen)
	if p.User.Disabled || !now.Before(parseTimeText(expires)) || now.Sub(last) > idle {
		// Removing it is tidying: a session that stays behind is refused
		// again the next time.
		s.touch(ctx, "could not remove an expired session", "user_id", p.User.ID, `DELETE FROM sessions WHERE id_hash = ?`, hash)
		return model.Principal{}, model.Errorf(model.EUNAUTHORIZED, "your session has expired; sign in again")
	}
	if now.Sub(last) > sessionTouchEvery {
		s.touch(ctx, "could not record the last use of a session", "user_id", p.User.ID, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, timeText(now), hash)
	}
	return p, nil
}

// touch makes a bookkeeping write that no request depends on (a token's or
// session's last use, removing an expired session). While storage fails it
// is skipped, and when it fails it is logged: it never fails a request.
func (s *Store) touch(ctx context.Context, failure, idKey string, id int64, q string, args ...any) {
	if _, down := s.Unavailable(); down {
		return
	}
	if _, err := s.wdb.ExecContext(ctx, q, args...); err != nil && ctx.Err() == nil {
		s.writer.log.Warn(failure, idKey, id, "err", err)
	}
}

// DeleteSession ends session id; ending an unknown session is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.wdb.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, model.TokenHash(id)); err != nil {
		return writeFailed("delete session", err)
	}
	return nil
}

// CountSessions returns the number of stored sessions of user userID.
func (s *Store) CountSessions(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count sessions: %w", err)
	}
	return n, nil
}

// endSessions ends every session of user userID inside tx.
func endSessions(tx *sql.Tx, userID int64) error {
	if _, err := tx.Exec(`DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("store: end sessions: %w", err)
	}
	return nil
}
