-- 011_database_id (PostgreSQL twin of sql/sqlite/011_database_id.sql): the database's identity
-- (issue #21: gwctl must notice when the relayd on its admin socket serves another database than the
-- one it just changed). One random id, made once when this migration runs; never changed. Every
-- relayd on the database (several nodes) reports the same id. A database made from another
-- (CREATE DATABASE ... TEMPLATE, a restored dump) keeps its id: it is the same configuration.
CREATE TABLE meta (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
);
INSERT INTO meta(key, value)
  VALUES ('database_id', md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text));
