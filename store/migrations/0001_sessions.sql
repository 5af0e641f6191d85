-- Console sessions: the browser's cookie holds only a random id; the
-- server keeps its SHA-256 here, so logout, a password change or disabling
-- a user ends a session for real.
CREATE TABLE sessions (
    id_hash      BLOB PRIMARY KEY,   -- SHA-256 of the cookie's session id
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,      -- idle timeout counts from here
    expires_at   TEXT NOT NULL,      -- absolute timeout
    ip           TEXT,
    user_agent   TEXT
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);
