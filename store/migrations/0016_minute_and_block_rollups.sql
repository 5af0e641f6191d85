-- event_rollups_minute counts the events per minute of event time, under
-- the keys of event_rollups. The dashboard's captions count an exact window
-- (the last 24 hours up to now, not whole hours): whole hours come from
-- event_rollups, whole minutes at the window's edges from this table, and
-- only the seconds at its two ends from the events. Both tables are
-- rebuilt from the events (in the background, in chunks of ids) so that
-- they agree, with the per-block counts below.
CREATE TABLE event_rollups_minute (
    minute     INTEGER NOT NULL,  -- floor(time_ns / 1 min)
    category   TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    actor_type TEXT    NOT NULL,
    actor_id   TEXT    NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (minute, category, type, outcome, actor_type, actor_id)
) WITHOUT ROWID;

-- event_rollups_block counts the events per block of 4,096 ids, under the
-- same keys: a start index into a listing by category (the Events page,
-- Audit, System log, any role) adds whole blocks newest first and skips
-- by OFFSET only within one block.
CREATE TABLE event_rollups_block (
    block      INTEGER NOT NULL,  -- id / 4096
    category   TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    actor_type TEXT    NOT NULL,
    actor_id   TEXT    NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (block, category, type, outcome, actor_type, actor_id)
) WITHOUT ROWID;

-- event_blocks holds, per block of 4,096 ids, the earliest and latest event
-- time in it (never narrower than what the block holds): a window in the
-- past is read from the newest block that can hold one of its events down
-- to the oldest, instead of from the newest event of all.
CREATE TABLE event_blocks (
    block       INTEGER PRIMARY KEY,  -- id / 4096
    min_time_ns INTEGER NOT NULL,
    max_time_ns INTEGER NOT NULL
);

DELETE FROM event_rollups;
UPDATE event_rollup_state SET counted_upto = 0, rebuild_end = (SELECT coalesce(max(id), 0) FROM events);
