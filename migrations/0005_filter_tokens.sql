-- Type, actor, agent and tenant filters go through tokens in the full-text
-- index (see store/events.go, filterToken) instead of B-tree indexes, which
-- cost more than the rest of an insert together. The store re-indexes the
-- existing events with their tokens in the same transaction.
DROP INDEX events_type;
DROP INDEX events_actor;
DROP INDEX events_agent;
DROP INDEX events_tenant;
