-- 016_channel_balances: upstream balances (issue #23). The last figure an upstream's balance endpoint
-- gave for a channel (common/balance.h: one endpoint and parser per provider kind), in the
-- provider's currency (USD, CNY...), when it was read (updated_time, unix seconds) and by whom
-- ('gwctl' or 'relayd'); low_fired_time is when relayd last raised the low-balance alert (0: armed;
-- option balance_low_threshold). Written by `gwctl channel balance` and relayd's poll
-- (relayd/balance.c, option balance_poll_interval_s); a channel without a row was never read.
CREATE TABLE channel_balances (
  channel_id     BIGINT PRIMARY KEY,
  balance        DOUBLE PRECISION NOT NULL DEFAULT 0,
  currency       TEXT NOT NULL DEFAULT 'USD',
  updated_time   BIGINT NOT NULL DEFAULT 0,
  source         TEXT NOT NULL DEFAULT '',
  low_fired_time BIGINT NOT NULL DEFAULT 0
);
