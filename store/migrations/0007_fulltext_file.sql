-- The full-text index moves to its own database file (vigil-fts.db), kept
-- up to date by its own writer so that indexing runs beside the durable
-- commit of the events instead of inside it. See store/fulltext.go.
DROP TABLE events_vocab;
DROP TABLE events_fts;
