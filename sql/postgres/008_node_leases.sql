-- 008_node_leases (PostgreSQL twin of sql/sqlite/008_node_leases.sql; BIGINT integers): one live relayd per node name (issue #18: two relayd started with one node name
-- refunded each other's open reservations). relayd (relayd/lease.c) takes the row of its node name
-- at start, before it resolves that name's reservations, beats heartbeat_at every 5 s from its own
-- thread, and deletes the row when it stops. A row is free when its holder is on this host
-- (host_id) and its pid is gone or started at another time (a kill -9 restarts at once), or when it
-- comes from another host and its heartbeat is older than 30 s. Takeovers compare instance.
CREATE TABLE node_leases (
  node          TEXT    PRIMARY KEY,            -- node_name (auto = HOSTNAME/LISTEN)
  host          TEXT    NOT NULL DEFAULT '',    -- hostname, for messages
  host_id       TEXT    NOT NULL DEFAULT '',    -- hostname|boot id|pid namespace: where pid means something
  pid           BIGINT  NOT NULL,
  pid_start     BIGINT  NOT NULL DEFAULT 0,     -- /proc/PID/stat start time: a reused pid is not the holder
  instance      TEXT    NOT NULL,               -- random per process: takeovers compare and swap it
  started_at    BIGINT  NOT NULL,
  heartbeat_at  BIGINT  NOT NULL
);
