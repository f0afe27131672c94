-- 007_billing (PostgreSQL twin of sql/sqlite/007_billing.sql): money you can audit (issue #17).
-- prices: what a cache write costs and the most a model can answer.
--   cache_write_ratio     x the input price for a 5-minute cache write (Anthropic
--                         usage.cache_creation.ephemeral_5m_input_tokens); NULL = 1.25.
--   cache_write_1h_ratio  x the input price for a 1-hour cache write (ephemeral_1h_input_tokens);
--                         NULL = 2.0.
--   max_output_tokens     the model's documented maximum output: the completion bound a request
--                         without max_tokens reserves; NULL or 0 = unknown (the option
--                         default_max_output_tokens applies).
-- logs.billing: the JSON breakdown of a request's charge (tokens by kind, every ratio applied, group,
-- reserved and charged, usage source; see `gwctl log explain`); '' for rows without one (rows
-- written before this migration, top-ups, manage rows).
ALTER TABLE prices ADD COLUMN cache_write_ratio DOUBLE PRECISION;
ALTER TABLE prices ADD COLUMN cache_write_1h_ratio DOUBLE PRECISION;
ALTER TABLE prices ADD COLUMN max_output_tokens BIGINT;
ALTER TABLE logs ADD COLUMN billing TEXT NOT NULL DEFAULT '';

-- The providers' documented maximum output of the models 002 and 006 price (the new column is
-- NULL everywhere, so nothing an administrator set is overwritten). Models without a documented
-- output bound (embeddings, images, audio, moderation, rerank) stay NULL.
UPDATE prices SET max_output_tokens = CASE model
  WHEN 'gpt-4o'                   THEN 16384
  WHEN 'gpt-4o-mini'              THEN 16384
  WHEN 'gpt-4.1'                  THEN 32768
  WHEN 'gpt-4.1-mini'             THEN 32768
  WHEN 'gpt-4.1-nano'             THEN 32768
  WHEN 'o3'                       THEN 100000
  WHEN 'o4-mini'                  THEN 100000
  WHEN 'gpt-3.5-turbo'            THEN 4096
  WHEN 'gpt-3.5-turbo-instruct'   THEN 4096
  WHEN 'claude-3-5-haiku-latest'  THEN 8192
  WHEN 'claude-3-5-sonnet-latest' THEN 8192
  WHEN 'claude-sonnet-4-0'        THEN 64000
  WHEN 'claude-opus-4-0'          THEN 32000
  WHEN 'gemini-2.0-flash'         THEN 8192
  WHEN 'gemini-2.5-flash'         THEN 65536
  WHEN 'gemini-2.5-pro'           THEN 65536
  WHEN 'deepseek-chat'            THEN 8192
  WHEN 'deepseek-reasoner'        THEN 65536
  END
WHERE max_output_tokens IS NULL AND model IN ('gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini',
  'gpt-4.1-nano', 'o3', 'o4-mini', 'gpt-3.5-turbo', 'gpt-3.5-turbo-instruct',
  'claude-3-5-haiku-latest', 'claude-3-5-sonnet-latest', 'claude-sonnet-4-0', 'claude-opus-4-0',
  'gemini-2.0-flash', 'gemini-2.5-flash', 'gemini-2.5-pro', 'deepseek-chat', 'deepseek-reasoner');
