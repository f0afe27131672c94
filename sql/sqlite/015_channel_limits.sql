-- 015_channel_limits: limits per channel and per pool key (issue #25). requests (rpm) and tokens
-- (tpm) per rate_limit_window_s, and for a pool key the upstream requests it may have open at once
-- (a channel's own is channels.max_concurrency, migration 004). 0 = no limit. relayd counts them in
-- memory (relayd/chanlimit.h): a request that would pass one goes to the next key, then the next
-- channel of its tier, and is never counted as the channel's failure.
ALTER TABLE channels ADD COLUMN rpm INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN tpm INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channel_keys ADD COLUMN rpm INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channel_keys ADD COLUMN tpm INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channel_keys ADD COLUMN max_concurrency INTEGER NOT NULL DEFAULT 0;
