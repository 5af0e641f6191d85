-- Type, actor, agent and tenant filters go through tokens in the full-text
-- index (see store/events.go, filterToken) instead of B-tree indexes, which
-- cost more than the rest of an insert together. (The full-text index is
-- rebuilt with the tokens: see 0007.)
DROP INDEX events_type;
DROP INDEX events_actor;
DROP INDEX events_agent;
DROP INDEX events_tenant;
