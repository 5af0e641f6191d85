-- event_rollups counts the events per hour of event time and per what the
-- dashboard's charts and tiles count or filter by: category, outcome, the
-- type of AUDIT_LOG events only (other types, such as a syslog MSGID, are
-- any text: ''), and, for SYSTEM events only, the actor (the part of an
-- operator's visibility that is not whole categories; '' elsewhere). The writer keeps
-- it in the transaction that stores the events, retention in the one that
-- removes or redacts them (store/rollups.go). n is never zero: a key whose
-- count reaches zero is deleted.
CREATE TABLE event_rollups (
    hour       INTEGER NOT NULL,  -- floor(time_ns / 1 h)
    category   TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    actor_type TEXT    NOT NULL,
    actor_id   TEXT    NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (hour, category, type, outcome, actor_type, actor_id)
) WITHOUT ROWID;

-- The events stored before the rollups existed are counted in the
-- background, in chunks of ids: an event is counted once its id is at most
-- counted_upto or above rebuild_end (the writer counts those). Until
-- counted_upto reaches rebuild_end the dashboard counts from the events.
CREATE TABLE event_rollup_state (
    one          INTEGER PRIMARY KEY CHECK (one = 1),
    counted_upto INTEGER NOT NULL,
    rebuild_end  INTEGER NOT NULL
);
INSERT INTO event_rollup_state (one, counted_upto, rebuild_end)
    SELECT 1, 0, coalesce(max(id), 0) FROM events;
