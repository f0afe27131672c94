-- 013_audio_prices (PostgreSQL twin of sql/sqlite/013_audio_prices.sql): audio tokens
-- priced as audio (issue #24, Realtime follow-ups). New API calls these AudioRatio and
-- AudioCompletionRatio (Calcium-Ion/new-api, now QuantumNous/new-api: service/quota.go,
-- calculateAudioQuota); relay applies them the same way (relayd/billing.c, billing_quota):
--   audio_ratio             x the text input price for an input audio token (not cached); NULL = 1
--                           (audio input priced as text, as before this migration).
--   audio_completion_ratio  x the audio input price (audio_ratio) for an output audio token; NULL =
--                           audio output priced as text output (completion_ratio / audio_ratio).
-- A cached audio token costs the cache ratio, as a cached text token does (OpenAI prices cached
-- audio input at the cached text input price).
ALTER TABLE prices ADD COLUMN audio_ratio DOUBLE PRECISION;
ALTER TABLE prices ADD COLUMN audio_completion_ratio DOUBLE PRECISION;

-- OpenAI's published prices of its Realtime models (https://platform.openai.com/docs/pricing, per
-- million tokens; checked 2025-09): gpt-realtime text in 4.00, cached in 0.40, text out 16.00,
-- audio in 32.00, cached audio in 0.40, audio out 64.00; gpt-4o-realtime-preview text in 5.00,
-- cached in 2.50, text out 20.00, audio in 40.00, cached audio in 2.50, audio out 80.00.
-- In ratios (1 = 2 USD per million input tokens): gpt-realtime 2 / completion 4 / cache 0.1 /
-- audio 8 / audio completion 2; gpt-4o-realtime-preview 2.5 / 4 / 0.5 / 8 / 2. A row an
-- administrator already has is left as it is.
INSERT INTO prices(model, model_ratio, completion_ratio, cache_ratio, audio_ratio,
                   audio_completion_ratio) VALUES
  ('gpt-realtime',             2,   4, 0.1, 8, 2),
  ('gpt-4o-realtime-preview',  2.5, 4, 0.5, 8, 2)
ON CONFLICT(model) DO NOTHING;
