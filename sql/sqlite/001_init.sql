-- 001_init: the first schema of relay (SQLite).
-- Table and column names follow One API where they mean the same thing, so imports map cleanly.
-- Timestamps are Unix seconds. Status enums never use 0.
-- Quota is in One API units: 500000 = 1 USD.

CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT    NOT NULL UNIQUE,
  role          INTEGER NOT NULL DEFAULT 1,      -- 1 common, 10 admin, 100 root
  status        INTEGER NOT NULL DEFAULT 1,      -- 1 enabled, 2 disabled
  quota         INTEGER NOT NULL DEFAULT 0,      -- remaining balance
  used_quota    INTEGER NOT NULL DEFAULT 0,
  request_count INTEGER NOT NULL DEFAULT 0,
  "group"       TEXT    NOT NULL DEFAULT 'default',
  created_time  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
  id              INTEGER PRIMARY KEY,
  user_id         INTEGER NOT NULL REFERENCES users(id),
  name            TEXT    NOT NULL,
  key_hash        TEXT    NOT NULL UNIQUE,        -- hex SHA-256 of the key without "sk-"
  key_hint        TEXT    NOT NULL DEFAULT '',    -- "sk-ab...wxyz", for display only
  status          INTEGER NOT NULL DEFAULT 1,     -- 1 enabled, 2 disabled, 3 expired, 4 exhausted
  created_time    INTEGER NOT NULL DEFAULT 0,
  accessed_time   INTEGER NOT NULL DEFAULT 0,
  expired_time    INTEGER NOT NULL DEFAULT -1,    -- -1 = never
  remain_quota    INTEGER NOT NULL DEFAULT 0,
  unlimited_quota INTEGER NOT NULL DEFAULT 0,
  used_quota      INTEGER NOT NULL DEFAULT 0,
  models          TEXT    NOT NULL DEFAULT '',    -- comma list of allowed models, '' = all
  subnet          TEXT    NOT NULL DEFAULT '',    -- comma list of allowed IPs/CIDRs, '' = any
  "group"         TEXT    NOT NULL DEFAULT '',    -- '' = the user's group
  UNIQUE (user_id, name)
);
CREATE INDEX tokens_user ON tokens(user_id);

CREATE TABLE channels (
  id            INTEGER PRIMARY KEY,
  type          TEXT    NOT NULL DEFAULT 'openai',
  name          TEXT    NOT NULL UNIQUE,
  key           TEXT    NOT NULL DEFAULT '',      -- upstream secret
  status        INTEGER NOT NULL DEFAULT 1,       -- 1 enabled, 2 disabled, 3 auto-disabled
  base_url      TEXT    NOT NULL DEFAULT '',
  models        TEXT    NOT NULL DEFAULT '',      -- comma list
  "group"       TEXT    NOT NULL DEFAULT 'default', -- comma list
  model_mapping TEXT    NOT NULL DEFAULT '',      -- JSON object {"requested":"upstream"}
  priority      INTEGER NOT NULL DEFAULT 0,       -- higher is preferred
  weight        INTEGER NOT NULL DEFAULT 0,
  other         TEXT    NOT NULL DEFAULT '',      -- type-specific settings (JSON)
  tag           TEXT    NOT NULL DEFAULT '',
  created_time  INTEGER NOT NULL DEFAULT 0,
  test_time     INTEGER NOT NULL DEFAULT 0,
  response_time INTEGER NOT NULL DEFAULT 0,       -- ms, last test
  used_quota    INTEGER NOT NULL DEFAULT 0
);

-- Group pricing multipliers (One API keeps them in option GroupRatio).
CREATE TABLE groups (
  name  TEXT PRIMARY KEY,
  ratio REAL NOT NULL DEFAULT 1
);
INSERT INTO groups(name, ratio) VALUES ('default', 1);

-- Prices per model. Ratio 1 = 2 USD per million prompt tokens.
-- fixed_price (USD per call) wins over ratios when not NULL.
CREATE TABLE prices (
  model            TEXT PRIMARY KEY,
  model_ratio      REAL NOT NULL DEFAULT 0,
  completion_ratio REAL NOT NULL DEFAULT 1,
  cache_ratio      REAL NOT NULL DEFAULT 1,
  fixed_price      REAL
);

CREATE TABLE options (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE redemptions (
  id            INTEGER PRIMARY KEY,
  user_id       INTEGER NOT NULL DEFAULT 0,
  key           TEXT    NOT NULL UNIQUE,
  status        INTEGER NOT NULL DEFAULT 1,       -- 1 enabled, 2 disabled, 3 used
  name          TEXT    NOT NULL DEFAULT '',
  quota         INTEGER NOT NULL DEFAULT 0,
  created_time  INTEGER NOT NULL DEFAULT 0,
  redeemed_time INTEGER NOT NULL DEFAULT 0,
  used_user_id  INTEGER NOT NULL DEFAULT 0
);

-- One row per relayed request (type 2 consume) and per administrative event.
-- Types: 1 topup, 2 consume, 3 manage, 4 system, 5 error, 6 refund.
CREATE TABLE logs (
  id                INTEGER PRIMARY KEY,
  request_id        TEXT    NOT NULL DEFAULT '',
  created_at        INTEGER NOT NULL,
  type              INTEGER NOT NULL,
  content           TEXT    NOT NULL DEFAULT '',
  user_id           INTEGER NOT NULL DEFAULT 0,
  username          TEXT    NOT NULL DEFAULT '',
  token_id          INTEGER NOT NULL DEFAULT 0,
  token_name        TEXT    NOT NULL DEFAULT '',
  channel_id        INTEGER NOT NULL DEFAULT 0,
  model_name        TEXT    NOT NULL DEFAULT '',
  upstream_model    TEXT    NOT NULL DEFAULT '',
  prompt_tokens     INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  quota             INTEGER NOT NULL DEFAULT 0,
  status            INTEGER NOT NULL DEFAULT 0,     -- HTTP status sent to the client
  is_stream         INTEGER NOT NULL DEFAULT 0,
  elapsed_ms        INTEGER NOT NULL DEFAULT 0,
  first_byte_ms     INTEGER NOT NULL DEFAULT 0,
  end_reason        TEXT    NOT NULL DEFAULT '',    -- done, client_gone, upstream_error, timeout, shutdown, refused
  usage_source      TEXT    NOT NULL DEFAULT '',    -- upstream, local
  "group"           TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX logs_created ON logs(created_at, type);
CREATE INDEX logs_user ON logs(user_id);
CREATE INDEX logs_token ON logs(token_name);
CREATE INDEX logs_model ON logs(model_name);
CREATE INDEX logs_request ON logs(request_id);
