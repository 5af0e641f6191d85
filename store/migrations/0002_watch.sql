-- Certificate watch: the inventory, the endpoints Vigil dials, certificates
-- seen in use, agents, jobs and alerts. Times are RFC3339 text in UTC; the
-- _ns twins (Unix nanoseconds) are what comparisons and indexes use.

CREATE TABLE certificates (
    id             INTEGER PRIMARY KEY,
    fingerprint    TEXT    NOT NULL UNIQUE,  -- SHA-256 of the DER, lower-case hex
    serial         TEXT    NOT NULL,         -- lower-case hex, no leading zeros
    subject        TEXT    NOT NULL,
    common_name    TEXT    NOT NULL,
    issuer         TEXT    NOT NULL,
    sans           TEXT    NOT NULL,         -- JSON array of strings
    key_type       TEXT    NOT NULL,
    key_bits       INTEGER NOT NULL,
    not_before     TEXT    NOT NULL,
    not_after      TEXT    NOT NULL,
    not_after_ns   INTEGER NOT NULL,
    is_ca          INTEGER NOT NULL,
    pem            TEXT    NOT NULL,
    source         TEXT    NOT NULL,         -- upload, discovery, renewal
    created_at     TEXT    NOT NULL,
    replaced_by    INTEGER REFERENCES certificates(id),
    replaced_at    TEXT,
    revoked_at     TEXT                      -- set when a REVOKE_CERT job succeeds
);
CREATE INDEX certificates_not_after ON certificates(not_after_ns) WHERE replaced_at IS NULL AND revoked_at IS NULL;
CREATE INDEX certificates_serial ON certificates(serial);
CREATE INDEX certificates_subject ON certificates(subject);

-- Certificates named by events (certificate.serial/fingerprint/subject),
-- whether or not they are in the inventory yet. key is "fp:<sha256>" or
-- "serial:<hex>".
CREATE TABLE certificate_usage (
    key          TEXT    PRIMARY KEY,
    fingerprint  TEXT,
    serial       TEXT,
    subject      TEXT,
    first_seen   TEXT    NOT NULL,
    last_seen    TEXT    NOT NULL,
    last_seen_ns INTEGER NOT NULL,
    agent_id     TEXT,
    host         TEXT,
    uses         INTEGER NOT NULL
);
CREATE INDEX certificate_usage_fingerprint ON certificate_usage(fingerprint) WHERE fingerprint IS NOT NULL;
CREATE INDEX certificate_usage_serial ON certificate_usage(serial) WHERE serial IS NOT NULL;

CREATE TABLE endpoints (
    id                   INTEGER PRIMARY KEY,
    host                 TEXT    NOT NULL,
    port                 INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    server_name          TEXT    NOT NULL DEFAULT '',
    expected_fingerprint TEXT,
    created_at           TEXT    NOT NULL,
    created_by           TEXT,
    last_checked         TEXT,
    last_status          TEXT,
    last_error           TEXT,
    last_fingerprint     TEXT,
    UNIQUE (host, port, server_name)
);

-- Agents, known from their first event. last_seen is flushed from memory
-- (every event naming an agent_id is a heartbeat).
CREATE TABLE agents (
    id           TEXT    PRIMARY KEY,
    first_seen   TEXT    NOT NULL,
    last_seen    TEXT    NOT NULL,
    last_seen_ns INTEGER NOT NULL,
    host         TEXT,
    events       INTEGER NOT NULL
);

CREATE TABLE jobs (
    id                    INTEGER PRIMARY KEY,
    name                  TEXT    NOT NULL,
    type                  TEXT    NOT NULL CHECK (type IN ('ISSUE_CERT', 'REVOKE_CERT', 'CA_REFRESH', 'RENEWAL', 'DEPLOYMENT_VALIDATION')),
    status                TEXT    NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCESS', 'FAILED')),
    ca_id                 TEXT,
    certificate_id        INTEGER REFERENCES certificates(id),
    endpoint_id           INTEGER REFERENCES endpoints(id),
    agent_id              TEXT,             -- the only agent that may claim it; NULL for any
    claimed_by            TEXT,
    scheduled_at          TEXT    NOT NULL,
    scheduled_ns          INTEGER NOT NULL,
    started_at            TEXT,
    started_ns            INTEGER,
    completed_at          TEXT,
    duration_ms           INTEGER,
    triggered_by_type     TEXT    NOT NULL,
    triggered_by_id       TEXT    NOT NULL,
    input                 TEXT,             -- JSON object
    output                TEXT,             -- JSON
    error                 TEXT,
    issued_certificate_id TEXT,
    ca_request_id         TEXT,
    created_at            TEXT    NOT NULL,
    dedup_key             TEXT UNIQUE       -- set by the scheduler: one job per condition
);
CREATE INDEX jobs_queue ON jobs(scheduled_ns, id) WHERE status = 'QUEUED';
CREATE INDEX jobs_status ON jobs(status);
CREATE INDEX jobs_certificate ON jobs(certificate_id) WHERE certificate_id IS NOT NULL;

CREATE TABLE alerts (
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
    delivery_status   TEXT    NOT NULL DEFAULT 'none' CHECK (delivery_status IN ('none', 'pending', 'delivered', 'failed')),
    delivery_attempts INTEGER NOT NULL DEFAULT 0,
    delivery_error    TEXT,
    delivered_at      TEXT
);
CREATE UNIQUE INDEX alerts_open_key ON alerts(key) WHERE resolved_at IS NULL;
CREATE INDEX alerts_key ON alerts(key);
CREATE INDEX alerts_unread ON alerts(id) WHERE read_at IS NULL;
CREATE INDEX alerts_entity ON alerts(entity_type, entity_id);
CREATE INDEX alerts_delivery ON alerts(id) WHERE delivery_status = 'pending';
