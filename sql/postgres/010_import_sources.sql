-- 010_import_sources: where each imported row came from (issue #22). gwctl import oneapi
-- (gwctl/cmd_import.c) records one row per user, token, channel and redemption code it creates,
-- keyed by the source (oneapi, newapi or the --source label), the kind and the source's id, so a
-- second import updates the rows the first one created (matched by source id) and creates nothing
-- twice. digest is a SHA-256 of the source row as last imported: an unchanged source row leaves
-- relay's row alone (edits made in relay since are kept); a changed one is written again.
CREATE TABLE import_sources (
  source       TEXT    NOT NULL,
  kind         TEXT    NOT NULL,               -- users, tokens, channels, redemptions
  source_id    BIGINT  NOT NULL,
  relay_id     BIGINT  NOT NULL,
  digest       TEXT    NOT NULL DEFAULT '',
  imported_at  BIGINT  NOT NULL DEFAULT 0,
  PRIMARY KEY (source, kind, source_id)
);
