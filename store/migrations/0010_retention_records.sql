-- Retention under records in the chain (SPEC §7, store/retention.go).
-- Retention removes only the oldest events and redacts later ones its rule
-- drops, each run under a retention record: an event in the chain
-- (E_RETENTION_APPLIED). retention_records lists their ids so that verify
-- finds the newest without reading every event; verify checks the list
-- against the chain.
CREATE TABLE retention_records (id INTEGER PRIMARY KEY);

-- Redaction is the one UPDATE of an event: only through retention's gate,
-- only into the redacted form (outcome REDACTED), and never of the event's
-- commitment: id, times, source, category, tenant and hash stay.
DROP TRIGGER events_no_update;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
WHEN NOT EXISTS (SELECT 1 FROM retention_gate)
    OR OLD.outcome = 'REDACTED' OR NEW.outcome IS NOT 'REDACTED'
    OR NEW.id IS NOT OLD.id OR NEW.time IS NOT OLD.time OR NEW.time_ns IS NOT OLD.time_ns
    OR NEW.received_at IS NOT OLD.received_at OR NEW.source IS NOT OLD.source
    OR NEW.category IS NOT OLD.category OR NEW.tenant IS NOT OLD.tenant OR NEW.hash IS NOT OLD.hash
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE refused (only retention redacts events)');
END;

-- What earlier versions removed, without records: the chain base and the
-- hashes left in pruned_events (legacy = 1, kept from now on). On first
-- start Vigil appends one event (E_RETENTION_ACKNOWLEDGED) stating them,
-- and notes its id here; verify accepts exactly that set.
ALTER TABLE pruned_events ADD COLUMN legacy INTEGER NOT NULL DEFAULT 0;
UPDATE pruned_events SET legacy = 1;
CREATE TABLE retention_legacy (
    one       INTEGER PRIMARY KEY CHECK (one = 1),
    record_id INTEGER
);
INSERT INTO retention_legacy (one)
SELECT 1 WHERE EXISTS (SELECT 1 FROM chain_base) OR EXISTS (SELECT 1 FROM pruned_events);
