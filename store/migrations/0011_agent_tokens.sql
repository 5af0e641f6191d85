-- An agent token is bound to one agent id: the only agent it claims jobs,
-- reports results and heartbeats as. Tokens of other scopes have none.
-- Agent tokens created before this change stay NULL: they may still post
-- events that name no agent, but no longer act as an agent until they are
-- replaced (docs/operations.md).
ALTER TABLE tokens ADD COLUMN agent_id TEXT CHECK (agent_id IS NULL OR scope = 'agent');
