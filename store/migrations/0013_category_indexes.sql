-- The categories of Vigil's own and agents' records, AUDIT_LOG and SYSTEM,
-- are few among the USAGE events a busy appliance receives: the Audit and
-- System logs read them through these partial indexes (store/events.go,
-- ownCategoryIndex), newest first, without walking the other events and
-- without the full-text index, so they are complete while it is behind.
-- An event of another category adds no entry: the writer's cost per USAGE
-- event does not change.
CREATE INDEX events_category_audit_log ON events(id) WHERE category = 'AUDIT_LOG';
CREATE INDEX events_category_system    ON events(id) WHERE category = 'SYSTEM';
