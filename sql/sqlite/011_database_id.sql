-- 011_database_id: the database's identity (issue #21: gwctl must notice when the relayd on its admin
-- socket serves another database than the one it just changed). One random id, made once when this
-- migration runs (at creation, or on the first open of an older database); never changed. relayd
-- reports it on the admin socket (status, reload); gwctl compares it after every change. A copy of
-- the file (cp, a restored backup) keeps the id: it is the same configuration.
CREATE TABLE meta (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
);
INSERT INTO meta(key, value) VALUES ('database_id', lower(hex(randomblob(16))));
