-- The full-text index's vocabulary, read to expand a prefix search
-- (cert*) into the words it stands for, which FTS5 then walks newest first
-- instead of merging every posting list of the prefix up front.
CREATE VIRTUAL TABLE events_vocab USING fts5vocab(events_fts, 'row');
