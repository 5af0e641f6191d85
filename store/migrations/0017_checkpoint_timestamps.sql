-- An RFC 3161 time-stamp token over each checkpoint's signed note, from the
-- time-stamping authority of --tsa-url, and its genTime. Both stay NULL for
-- a checkpoint signed without a TSA or while the TSA failed.
ALTER TABLE checkpoints ADD COLUMN timestamp_token BLOB;
ALTER TABLE checkpoints ADD COLUMN timestamp_time  TEXT;
