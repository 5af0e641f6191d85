-- Merkle tree over the events (RFC 6962): leaf i is the event with id i+1,
-- its leaf hash SHA-256(0x00 || events.hash). The writer stores every
-- perfect-subtree node of level 8 and above (one per 128 events); lower
-- nodes are recomputed from at most 256 event hashes when a proof needs them.
CREATE TABLE merkle_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Signed checkpoints: the tree head (size, root) at a moment, as a C2SP
-- tlog-checkpoint signed note.
CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY,
    tree_size  INTEGER NOT NULL,
    root_hash  BLOB    NOT NULL,
    created_at TEXT    NOT NULL,
    note       TEXT    NOT NULL
);
CREATE INDEX checkpoints_size ON checkpoints(tree_size);
