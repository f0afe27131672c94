-- 006_media_prices: prices for images, audio, moderations and rerank (PostgreSQL twin of sql/sqlite/006_media_prices.sql).
-- price_unit says what one fixed_price (USD) pays for: 'call' (one request, as before), 'image'
-- (one generated image; dall-e-2/dall-e-3 scale it by size and quality), 'second' (one second of
-- transcribed or translated audio) or 'search' (one Cohere search unit: a query over up to 100
-- documents). Ratio prices (fixed_price NULL) ignore it. See doc/endpoints.md.
ALTER TABLE prices ADD COLUMN price_unit TEXT NOT NULL DEFAULT 'call';

-- Defaults after New API's (tts-1 and moderation ratios count characters / tokens as One API does);
-- per-image and per-second prices are OpenAI's list prices. An administrator's own rows win.
INSERT INTO prices(model, model_ratio, completion_ratio, cache_ratio, fixed_price, price_unit) VALUES
  ('dall-e-2',                          0,     1, 1, 0.016,  'image'),
  ('dall-e-3',                          0,     1, 1, 0.04,   'image'),
  ('gpt-image-1',                       2.5,   8, 0.25, NULL, 'call'),
  ('whisper-1',                         0,     1, 1, 0.0001, 'second'),
  ('tts-1',                             7.5,   1, 1, NULL,   'call'),
  ('tts-1-hd',                          15,    1, 1, NULL,   'call'),
  ('text-moderation-latest',            0.1,   1, 1, NULL,   'call'),
  ('text-moderation-stable',            0.1,   1, 1, NULL,   'call'),
  ('omni-moderation-latest',            0.1,   1, 1, NULL,   'call'),
  ('rerank-v3.5',                       0,     1, 1, 0.002,  'search'),
  ('rerank-english-v3.0',               0,     1, 1, 0.002,  'search'),
  ('rerank-multilingual-v3.0',          0,     1, 1, 0.002,  'search'),
  ('jina-reranker-v2-base-multilingual', 0.01, 1, 1, NULL,   'call'),
  ('jina-reranker-m0',                  0.01,  1, 1, NULL,   'call')
ON CONFLICT(model) DO NOTHING;
