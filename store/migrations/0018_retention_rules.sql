-- Retention by category and tenant, and legal holds (store/retention_rules.go).
-- The default rule and the AUDIT_LOG rule come from --retention and
-- --retention-audit; admins add rules by category, tenant or both here.
-- keep_ns is how long the rule keeps events after they were received
-- (0: forever).
CREATE TABLE retention_rules (
    id         INTEGER PRIMARY KEY,
    category   TEXT NOT NULL DEFAULT '',
    tenant     TEXT NOT NULL DEFAULT '',
    keep_ns    INTEGER NOT NULL CHECK (keep_ns >= 0),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (category, tenant),
    CHECK (category <> '' OR tenant <> '')
);

-- A legal hold keeps the events of a tenant, those received in a time
-- range (Unix ns, inclusive), or both, from retention until it is released
-- (the row is deleted; the audit trail keeps both changes).
CREATE TABLE legal_holds (
    id            INTEGER PRIMARY KEY,
    tenant        TEXT NOT NULL DEFAULT '',
    received_from INTEGER,
    received_to   INTEGER,
    reason        TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    CHECK (tenant <> '' OR received_from IS NOT NULL),
    CHECK ((received_from IS NULL) = (received_to IS NULL))
);

-- How much each rule keeps, counted by the last retention run (it reads
-- every event it may touch anyway), so that Settings never counts the
-- events itself. A rule is keyed by its category and tenant.
CREATE TABLE retention_usage (
    category   TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    events     INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    counted_at TEXT NOT NULL,
    PRIMARY KEY (category, tenant)
) WITHOUT ROWID;
