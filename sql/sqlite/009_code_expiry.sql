-- 009_code_expiry: redemption codes may expire (issue #22: New API's expired codes became
-- redeemable once imported). expired_time is Unix seconds, 0 = never; `gwctl redeem use` refuses a
-- code once the time is past (New API's rule: expired when expired_time != 0 and < now).
ALTER TABLE redemptions ADD COLUMN expired_time INTEGER NOT NULL DEFAULT 0;
