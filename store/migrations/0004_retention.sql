-- Retention. Events may be deleted only by retention, which opens the gate
-- (a row in retention_gate) inside its own transaction and closes it again
-- before committing.
CREATE TABLE retention_gate (open INTEGER NOT NULL);

DROP TRIGGER events_no_delete;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
WHEN NOT EXISTS (SELECT 1 FROM retention_gate)
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE refused (only retention removes events)');
END;

-- The chain's base: every event up to base_id is gone, and the chain
-- continues from base_hash (the hash of event base_id). base_id is a
-- multiple of 256, so the Merkle tree of the first base_id events is made of
-- stored nodes only.
CREATE TABLE chain_base (
    one       INTEGER PRIMARY KEY CHECK (one = 1),
    base_id   INTEGER NOT NULL,
    base_hash BLOB    NOT NULL,
    updated_at TEXT   NOT NULL
);

-- Removed events above the base (kept AUDIT_LOG events can outlive their
-- neighbours): their hashes keep the chain and the tree whole.
CREATE TABLE pruned_events (
    id   INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
