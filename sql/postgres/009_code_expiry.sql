-- 009_code_expiry: redemption codes may expire (PostgreSQL twin of sql/sqlite/009_code_expiry.sql).
-- expired_time is Unix seconds, 0 = never; `gwctl redeem use` refuses a code once the time is past.
ALTER TABLE redemptions ADD COLUMN expired_time BIGINT NOT NULL DEFAULT 0;
