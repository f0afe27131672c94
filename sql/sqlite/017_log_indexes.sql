-- 017_log_indexes: the writer's cost per billed row (issue #26). Every logs index is one more b-tree
-- insert for each row relayd logs (relayd/commit.c); these three served only gwctl's `log list` and
-- `log stats` filters on a token name, a model or a channel, which are answered as well by a walk
-- of logs_created (newest first, stopping at --limit) with the filter applied to each row. Kept:
-- logs_created (time ranges, ordering, purge), logs_user (a user's own usage, relayd/selfsvc.c),
-- logs_request (`gwctl log show/explain`, the writer's check after a failed commit).
-- Measured in bench/README.md (2026-12-07 session 9).
DROP INDEX IF EXISTS logs_token;
DROP INDEX IF EXISTS logs_model;
DROP INDEX IF EXISTS logs_channel;
