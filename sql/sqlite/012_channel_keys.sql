-- 012_channel_keys: key pools (issue #23). A channel may hold many upstream keys; relayd chooses one
-- per request by the channel's key_mode (random, round-robin, sticky) and disables a key alone when
-- the upstream says it is bad (status 3, with status_reason and status_time), the channel only when
-- every key is. A channel without rows here keeps its one channels.key (a pool of one, as before).
-- When a channel has rows, channels.key holds a copy of its lowest-index key (so tools that read
-- channels.key still find a working key); gwctl keeps that copy in step (gwctl/channels.c).
-- key is sealed with the master key like channels.key (common/secret.h); idx is stable (never
-- renumbered: the key="N" label of /metrics and `gwctl channel key ... N` name the same key).
CREATE TABLE channel_keys (
  id            INTEGER PRIMARY KEY,
  channel_id    INTEGER NOT NULL,
  idx           INTEGER NOT NULL,
  key           TEXT    NOT NULL,
  status        INTEGER NOT NULL DEFAULT 1,      -- 1 enabled, 2 disabled, 3 auto-disabled
  status_reason TEXT    NOT NULL DEFAULT '',
  status_time   INTEGER NOT NULL DEFAULT 0,
  created_time  INTEGER NOT NULL DEFAULT 0,
  UNIQUE (channel_id, idx)
);
ALTER TABLE channels ADD COLUMN key_mode TEXT NOT NULL DEFAULT 'random';  -- random|round-robin|sticky
