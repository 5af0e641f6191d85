-- Category and outcome filters go through tokens in the full-text index,
-- like type, actor, agent and tenant (see store/events.go, filterToken): the
-- two B-tree indexes cost the writer more per event than the tokens cost
-- the indexer. The full-text index is rebuilt with the new tokens on start
-- (its format changes, see store/fulltext.go).
DROP INDEX events_category;
DROP INDEX events_outcome;
