-- Certificates that need a person: alert thresholds per certificate and
-- per endpoint, alerts held while a renewal is on its way, and reminders.

-- Thresholds in days replacing --expiry-days (JSON array, largest first);
-- NULL keeps the default. A certificate's own win over its endpoints'.
ALTER TABLE certificates ADD COLUMN expiry_days TEXT;
ALTER TABLE endpoints ADD COLUMN expiry_days TEXT;

-- Alerts gain the delivery state 'held' (not sent while renewal job
-- held_for_job is QUEUED or RUNNING and not overdue) and count the
-- reminders sent for them. SQLite cannot change a CHECK constraint in
-- place, so the table is rebuilt; nothing references it.
CREATE TABLE alerts_new (
    id                INTEGER PRIMARY KEY,
    severity          TEXT    NOT NULL CHECK (severity IN ('ERROR', 'WARN', 'INFO')),
    type              TEXT    NOT NULL,
    title             TEXT    NOT NULL,
    message           TEXT    NOT NULL,
    entity_type       TEXT,
    entity_id         TEXT,
    key               TEXT    NOT NULL,     -- the condition; one open alert per key
    created_at        TEXT    NOT NULL,
    read_at           TEXT,
    read_by           TEXT,
    resolved_at       TEXT,
    delivery_status   TEXT    NOT NULL DEFAULT 'none' CHECK (delivery_status IN ('none', 'held', 'pending', 'delivered', 'failed')),
    delivery_attempts INTEGER NOT NULL DEFAULT 0,
    delivery_error    TEXT,
    delivered_at      TEXT,
    held_for_job      INTEGER,              -- the renewal job a held alert waits for
    reminders         INTEGER NOT NULL DEFAULT 0,
    reminded_at       TEXT                  -- when the last reminder was sent
);
INSERT INTO alerts_new (id, severity, type, title, message, entity_type, entity_id, key, created_at,
    read_at, read_by, resolved_at, delivery_status, delivery_attempts, delivery_error, delivered_at)
SELECT id, severity, type, title, message, entity_type, entity_id, key, created_at,
    read_at, read_by, resolved_at, delivery_status, delivery_attempts, delivery_error, delivered_at FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE UNIQUE INDEX alerts_open_key ON alerts(key) WHERE resolved_at IS NULL;
CREATE INDEX alerts_key ON alerts(key);
CREATE INDEX alerts_unread ON alerts(id) WHERE read_at IS NULL;
CREATE INDEX alerts_entity ON alerts(entity_type, entity_id);
CREATE INDEX alerts_delivery ON alerts(id) WHERE delivery_status = 'pending';
CREATE INDEX alerts_held ON alerts(held_for_job) WHERE delivery_status = 'held';
-- The reminder run reads the unread, open ERROR alerts.
CREATE INDEX alerts_remind ON alerts(id) WHERE read_at IS NULL AND resolved_at IS NULL AND severity = 'ERROR';
