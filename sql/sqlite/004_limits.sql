-- 004_limits: rate limits, channel health and budget alerts (issue "Routing intelligence and
-- limits"). Live state (request windows, circuit breakers, latency averages) is in relayd's memory;
-- these tables hold what an administrator configures and what must survive a restart.

-- Requests and tokens per window for a token or a user, on one model or on all of them together.
-- The window length is option rate_limit_window_s (60 s by default: per minute).
CREATE TABLE rate_limits (
  id         INTEGER PRIMARY KEY,
  scope      TEXT    NOT NULL,              -- 'token' or 'user'
  subject_id INTEGER NOT NULL,              -- tokens.id or users.id
  model      TEXT    NOT NULL DEFAULT '',   -- '' = every model together
  rpm        INTEGER NOT NULL DEFAULT 0,    -- requests per window, 0 = no limit
  tpm        INTEGER NOT NULL DEFAULT 0,    -- tokens per window, 0 = no limit
  UNIQUE (scope, subject_id, model)
);

-- Channel health. status 3 (auto-disabled) is set by relayd, with the reason; status 2 (disabled)
-- only by an administrator, and relayd never re-enables it.
ALTER TABLE channels ADD COLUMN max_concurrency INTEGER NOT NULL DEFAULT 0;  -- open upstream requests at once, 0 = no limit
ALTER TABLE channels ADD COLUMN auto_disable INTEGER NOT NULL DEFAULT 1;     -- 0: health checks never disable it (New API auto_ban)
ALTER TABLE channels ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';      -- why relayd disabled it
ALTER TABLE channels ADD COLUMN status_time INTEGER NOT NULL DEFAULT 0;      -- when the status last changed by relayd
ALTER TABLE channels ADD COLUMN test_model TEXT NOT NULL DEFAULT '';         -- model of channel tests, '' = the first

-- Budget alerts: a webhook and a log row when a token or user crosses a threshold, once per
-- crossing. fired_at = 0: armed. fired_total = the quota (used + remaining) when it fired; a top-up
-- raises it and re-arms the alert.
CREATE TABLE budget_alerts (
  id          INTEGER PRIMARY KEY,
  scope       TEXT    NOT NULL,              -- 'token' or 'user'
  subject_id  INTEGER NOT NULL,
  kind        TEXT    NOT NULL,              -- 'percent' (of the quota used) or 'remain' (quota left)
  threshold   INTEGER NOT NULL,              -- percent 1..100, or quota units
  fired_at    INTEGER NOT NULL DEFAULT 0,
  fired_total INTEGER NOT NULL DEFAULT 0,
  UNIQUE (scope, subject_id, kind, threshold)
);

-- Quota reminders (New API's QuotaRemindThreshold, option quota_remind_threshold): users that were
-- reminded, until a top-up lifts them above the threshold again.
CREATE TABLE quota_reminders (
  user_id     INTEGER PRIMARY KEY,
  fired_at    INTEGER NOT NULL DEFAULT 0,
  fired_total INTEGER NOT NULL DEFAULT 0
);
