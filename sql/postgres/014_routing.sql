-- 014_routing (PostgreSQL twin of sql/sqlite/014_routing.sql): tiered prices for long prompts, model fallback chains, the response cache's opt-in
-- (issue #25).
-- prices: one long-context tier per model (Gemini 2.5 Pro and Claude Sonnet price every token of a
-- request above 200,000 prompt tokens higher). When a request's prompt tokens are above tier_above
-- (NULL: no tier), the whole request is priced with the tier's ratios instead of model_ratio,
-- completion_ratio and cache_ratio (NULL: the base ratio of the row); cache write ratios stay
-- multiples of the (tier's) input price. relayd reserves at the tier when the request's input bound
-- is above the threshold, and settles by the prompt tokens the usage reports.
ALTER TABLE prices ADD COLUMN tier_above BIGINT;
ALTER TABLE prices ADD COLUMN tier_model_ratio DOUBLE PRECISION;
ALTER TABLE prices ADD COLUMN tier_completion_ratio DOUBLE PRECISION;
ALTER TABLE prices ADD COLUMN tier_cache_ratio DOUBLE PRECISION;

-- tokens.response_cache: 1 = this key's answers may be served from and stored in relayd's response
-- cache (doc/design.md "Response cache"); the option response_cache_models opts models in.
ALTER TABLE tokens ADD COLUMN response_cache INTEGER NOT NULL DEFAULT 0;

-- fallbacks: the models tried, in order, when every channel of a model failed (doc/design.md
-- "Fallback chains"). scope 'token' (subject: the token id), 'group' (subject: the group name) or
-- 'model' (subject ''): the token's chain wins over its group's, the group's over the model's.
-- chain: comma list of models; on_errors: comma list of client errors that also walk the chain
-- ('context' = the prompt is too long for the model, 'policy' = refused by content policy); '' = only
-- failures that are the upstream's (connect, 429, 5xx, account errors).
CREATE TABLE fallbacks (
  scope     TEXT NOT NULL,
  subject   TEXT NOT NULL DEFAULT '',
  model     TEXT NOT NULL,
  chain     TEXT NOT NULL,
  on_errors TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (scope, subject, model)
);
