-- 003_admin: what gwctl's complete administration needs (PostgreSQL twin of sql/sqlite/003_admin.sql).
-- groups.selectable: whether users may pick the group for their own tokens (One API's
-- UserUsableGroups). The default group is selectable; new groups are not until an admin says so.
ALTER TABLE groups ADD COLUMN selectable BIGINT NOT NULL DEFAULT 0;
UPDATE groups SET selectable = 1 WHERE name = 'default';

-- log filters of gwctl log list/stats (--channel, --status) and redemption lookups by name
CREATE INDEX logs_channel ON logs(channel_id);
CREATE INDEX redemptions_name ON redemptions(name);
