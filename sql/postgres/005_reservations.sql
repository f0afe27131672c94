-- 005_reservations (PostgreSQL twin of sql/sqlite/005_reservations.sql; BIGINT integers): quota
-- reserved by requests in flight, made durable (issue "Reliability and
-- security: never lose a billed token"). relayd's writer inserts a row in the batch after a request
-- reserved quota and deletes it in the batch that settles the request (a request that reserves and
-- settles within one batch never touches this table). Rows left after a crash are resolved at the
-- next start of the same node (refunded or charged, per unsettled_reservations) with a log row each.
CREATE TABLE reservations (
  request_id    TEXT    PRIMARY KEY,
  node          TEXT    NOT NULL DEFAULT '',    -- host/listen of the relayd that reserved it
  created_at    BIGINT  NOT NULL,
  user_id       BIGINT  NOT NULL,
  username      TEXT    NOT NULL DEFAULT '',
  token_id      BIGINT  NOT NULL,
  token_name    TEXT    NOT NULL DEFAULT '',
  token_limited BIGINT  NOT NULL DEFAULT 1,     -- 0: an unlimited token (its remain_quota is not moved)
  model_name    TEXT    NOT NULL DEFAULT '',
  "group"       TEXT    NOT NULL DEFAULT '',
  is_stream     BIGINT  NOT NULL DEFAULT 0,
  quota         BIGINT  NOT NULL                -- the amount reserved
);
CREATE INDEX reservations_node ON reservations(node);
