-- Vigil's base schema. Later changes are numbered files in migrations/,
-- applied in order and recorded in schema_migrations.

-- events: one row per event, in commit order. id is the sequence id and the
-- position in the hash chain; hash = SHA-256(previous hash || canonical row).
-- Empty optional fields are NULL so that the partial indexes stay small.
CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    event_id         TEXT,              -- client-chosen id, for idempotent retries
    time             TEXT    NOT NULL,  -- event time, RFC3339 with the sender's offset
    time_ns          INTEGER NOT NULL,  -- event time, Unix nanoseconds, for ranges
    received_at      INTEGER NOT NULL,  -- Unix nanoseconds
    source           TEXT    NOT NULL,  -- http, syslog-udp, syslog-tcp, syslog-tls, internal
    category         TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    outcome          TEXT    NOT NULL,
    severity         TEXT    NOT NULL,
    actor_type       TEXT,
    actor_id         TEXT,
    actor_dn         TEXT,
    actor_ip         TEXT,
    entity_type      TEXT,
    entity_id        TEXT,
    cert_serial      TEXT,
    cert_fingerprint TEXT,
    cert_subject     TEXT,
    agent_id         TEXT,
    host             TEXT,
    app              TEXT,
    process          TEXT,
    command          TEXT,
    policy           TEXT,
    tenant           TEXT,
    message          TEXT    NOT NULL,
    details          TEXT,              -- compact JSON object
    hash             BLOB    NOT NULL
);

-- One index per filter of the read API. A secondary index ends with the
-- rowid, so "col = ? ORDER BY id DESC" walks it without sorting.
CREATE UNIQUE INDEX events_event_id ON events(event_id) WHERE event_id IS NOT NULL;
CREATE INDEX events_category ON events(category);
CREATE INDEX events_type     ON events(type);
CREATE INDEX events_outcome  ON events(outcome);
CREATE INDEX events_actor    ON events(actor_id) WHERE actor_id IS NOT NULL;
CREATE INDEX events_agent    ON events(agent_id) WHERE agent_id IS NOT NULL;
CREATE INDEX events_tenant   ON events(tenant)   WHERE tenant IS NOT NULL;
CREATE INDEX events_time     ON events(time_ns);

-- Events are append-only: the database itself refuses to change them.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE refused');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE refused');
END;

-- Full-text index, written by the event writer in the same transaction as
-- the rows (rowid = events.id). Contentless: the text lives in events only.
-- detail=none keeps it small and fast: it answers words, prefixes and
-- AND/OR/NOT, but not phrases or NEAR (see store/search.go).
CREATE VIRTUAL TABLE events_fts USING fts5(
    doc,
    content = '',
    contentless_delete = 1,
    detail = none,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'auditor', 'operator', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);

-- API tokens: only the SHA-256 of the secret is kept.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('ingest', 'agent', 'read', 'manage')),
    secret_hash  BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_id, name)
);
