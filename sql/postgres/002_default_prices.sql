-- 002_default_prices: the price table relay ships with (PostgreSQL twin; the same rows).
-- model_ratio 1 = 2 USD per million prompt tokens; completion_ratio multiplies completion tokens.
INSERT INTO prices(model, model_ratio, completion_ratio, cache_ratio) VALUES
  ('gpt-4o',                  1.25,  4,     0.5),
  ('gpt-4o-mini',             0.075, 4,     0.5),
  ('gpt-4.1',                 1,     4,     0.25),
  ('gpt-4.1-mini',            0.2,   4,     0.25),
  ('gpt-4.1-nano',            0.05,  4,     0.25),
  ('o3',                      1,     4,     0.25),
  ('o4-mini',                 0.55,  4,     0.25),
  ('gpt-3.5-turbo',           0.25,  3,     1),
  ('gpt-3.5-turbo-instruct',  0.75,  1.3333, 1),
  ('text-embedding-3-small',  0.01,  1,     1),
  ('text-embedding-3-large',  0.065, 1,     1),
  ('text-embedding-ada-002',  0.05,  1,     1),
  ('claude-3-5-haiku-latest', 0.4,   5,     0.1),
  ('claude-3-5-sonnet-latest',1.5,   5,     0.1),
  ('claude-sonnet-4-0',       1.5,   5,     0.1),
  ('claude-opus-4-0',         7.5,   5,     0.1),
  ('gemini-2.0-flash',        0.05,  4,     0.25),
  ('gemini-2.5-flash',        0.15,  8.3333, 0.25),
  ('gemini-2.5-pro',          0.625, 8,     0.25),
  ('deepseek-chat',           0.135, 4.0741, 0.25),
  ('deepseek-reasoner',       0.275, 4.0,   0.25);
