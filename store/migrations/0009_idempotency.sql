-- Idempotency keys. An event_id de-duplicates retries only among the
-- events of one sender: an API token over HTTP ('token:<id>'), a TLS client
-- certificate over syslog ('cert:<sha256 of the certificate>'). The writer
-- records the key of each such event here, in the transaction that stores
-- the event, with the hash of its content, so that a retry with the same
-- content is acknowledged and one with other content refused.
--
-- event_id itself stays in events as data and is no longer unique (plain
-- syslog may repeat it). The sender of an event stored before this
-- migration is not known, so those events have no key: a retry, after the
-- upgrade, of a request first sent before it is stored once more. The
-- events rows are not touched and the chain is unchanged.
DROP INDEX events_event_id;
CREATE TABLE event_keys (
    sender       TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    id           INTEGER NOT NULL,  -- events.id of the event stored under the key
    content_hash BLOB    NOT NULL,  -- see store/keys.go, contentHash
    PRIMARY KEY (sender, event_id)
) WITHOUT ROWID;
