-- The scheduled verifications of the whole log (--cron-verify): when each
-- ran and what it found, for the dashboard and for the alert it raises or
-- resolves.
CREATE TABLE verify_runs (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT    NOT NULL,
    finished_at TEXT    NOT NULL,
    ok          INTEGER NOT NULL,
    checked     INTEGER NOT NULL,  -- events whose hash was recomputed
    tree_size   INTEGER NOT NULL,
    first_bad   INTEGER,           -- the first bad sequence id, when one is named
    reason      TEXT    NOT NULL   -- why it failed; '' when ok
);
