#!/usr/bin/env python3
"""import_sources.py: the One API and New API table definitions the gwctl import tests build
their source databases from (22-gwctl-import.bats, 22-gwctl-import-sync.bats,
22-gwctl-import-mariadb.bats, 22-gwctl-import-pg.bats). Owns only the DDL; each suite writes its
own rows.

The tables are those GORM's AutoMigrate creates (model/main.go) for the models of
  songquanpeng/one-api  model/user.go, token.go, channel.go, redemption.go, option.go, ability.go,
                        log.go  (column names, types and tags read there, commit 8df4a26)
  QuantumNous/new-api   model/user.go, token.go, channel.go, redemption.go, option.go, setup.go
                        (the columns import reads, and their neighbours; the project was
                        Calcium-Ion/new-api before; channel_info is its ChannelInfo, gorm type json:
                        is_multi_key, multi_key_status_list, multi_key_mode random|polling, ...)
GORM's naming: a field's snake case, runs of capitals split as GORM does (OpenAIOrganization ->
open_ai_organization); `gorm:"column:..."` where given. Per database:
  SQLite      gorm.io/driver/sqlite: Go int -> integer, int64 `bigint` -> bigint, bool -> numeric,
              float64 -> real, string -> text (`type:` kept), gorm.DeletedAt -> datetime; `index`
              tags become CREATE INDEX statements (the ones written here: those the tests named).
  MySQL       gorm.io/driver/mysql v1.5 DataTypeOf, DefaultStringSize unset: Go int -> bigint,
              `type:int` -> int, bool -> boolean (tinyint(1)), *uint -> bigint unsigned, float64 ->
              double, a string with an index, a unique or a default -> varchar(191), other strings
              -> longtext, gorm.DeletedAt -> datetime(3) NULL; indexes inline.
  PostgreSQL  gorm.io/driver/postgres: Go int -> bigint, bool -> boolean, string -> text,
              `size:N` -> varchar(N), char(N) kept, float64 -> decimal, an int primary key ->
              bigserial.

Use from a suite: PYTHONPATH="$BATS_TEST_DIRNAME" PYTHONDONTWRITEBYTECODE=1 python3 - ... <<'PY'
with `from import_sources import ONEAPI_SQLITE`, or from the shell:
python3 "$BATS_TEST_DIRNAME/import_sources.py" ONEAPI_PG (prints that DDL), or
python3 "$BATS_TEST_DIRNAME/import_sources.py" ONEAPI_PG SOURCE.db (that DDL, then INSERTs of every
row of the SQLite database SOURCE.db in the columns that DDL's tables have: the same source on
another database, for psql or the mariadb client). Nothing here connects to a server or writes a
file; the SQLite database is only read.
"""
import sys

# One API on SQLite
ONEAPI_SQLITE = '''
CREATE TABLE `users` (`id` integer,`username` text UNIQUE,`password` text NOT NULL,`display_name` text,
  `role` integer DEFAULT 1,`status` integer DEFAULT 1,`email` text,`github_id` text,`wechat_id` text,
  `lark_id` text,`oidc_id` text,`access_token` char(32) UNIQUE,`quota` bigint DEFAULT 0,
  `used_quota` bigint DEFAULT 0,`request_count` integer DEFAULT 0,`group` varchar(32) DEFAULT 'default',
  `aff_code` varchar(32) UNIQUE,`inviter_id` integer,PRIMARY KEY (`id`));
CREATE INDEX `idx_users_display_name` ON `users`(`display_name`);
CREATE TABLE `tokens` (`id` integer,`user_id` integer,`key` char(48) UNIQUE,`status` integer DEFAULT 1,
  `name` text,`created_time` bigint,`accessed_time` bigint,`expired_time` bigint DEFAULT -1,
  `remain_quota` bigint DEFAULT 0,`unlimited_quota` numeric DEFAULT false,`used_quota` bigint DEFAULT 0,
  `models` text,`subnet` text DEFAULT '',PRIMARY KEY (`id`));
CREATE INDEX `idx_tokens_name` ON `tokens`(`name`);
CREATE TABLE `channels` (`id` integer,`type` integer DEFAULT 0,`key` text,`status` integer DEFAULT 1,
  `name` text,`weight` integer DEFAULT 0,`created_time` bigint,`test_time` bigint,
  `response_time` integer,`base_url` text DEFAULT '',`other` text,`balance` real,
  `balance_updated_time` bigint,`models` text,`group` varchar(32) DEFAULT 'default',
  `used_quota` bigint DEFAULT 0,`model_mapping` varchar(1024) DEFAULT '',`priority` bigint DEFAULT 0,
  `config` text,`system_prompt` text,PRIMARY KEY (`id`));
CREATE INDEX `idx_channels_name` ON `channels`(`name`);
CREATE TABLE `redemptions` (`id` integer,`user_id` integer,`key` char(32) UNIQUE,`status` integer DEFAULT 1,
  `name` text,`quota` bigint DEFAULT 100,`created_time` bigint,`redeemed_time` bigint,PRIMARY KEY (`id`));
CREATE TABLE `options` (`key` text,`value` text,PRIMARY KEY (`key`));
CREATE TABLE `abilities` (`group` varchar(32),`model` text,`channel_id` integer,`enabled` numeric,
  `priority` bigint DEFAULT 0,PRIMARY KEY (`group`,`model`,`channel_id`));
CREATE TABLE `logs` (`id` integer,`user_id` integer,`created_at` bigint,`type` integer,`content` text,
  `username` text DEFAULT '',`token_name` text DEFAULT '',`model_name` text DEFAULT '',
  `quota` integer DEFAULT 0,`prompt_tokens` integer DEFAULT 0,`completion_tokens` integer DEFAULT 0,
  `channel_id` integer,`request_id` text DEFAULT '',`elapsed_time` bigint DEFAULT 0,
  `is_stream` numeric DEFAULT false,`system_prompt_reset` numeric DEFAULT false,PRIMARY KEY (`id`));
'''

# New API on SQLite: soft deletes (deleted_at), model limits, allow_ips, token groups, channel tags
# and settings, redemption expiry (expired_time, 0 = never), the setups table
NEWAPI_SQLITE = '''
CREATE TABLE `users` (`id` integer,`username` text UNIQUE,`password` text NOT NULL,`display_name` text,
  `role` integer DEFAULT 1,`status` integer DEFAULT 1,`email` text,`github_id` text,`discord_id` text,
  `oidc_id` text,`wechat_id` text,`telegram_id` text,`access_token` char(32) UNIQUE,`quota` integer DEFAULT 0,
  `used_quota` integer DEFAULT 0,`request_count` integer DEFAULT 0,`group` varchar(64) DEFAULT 'default',
  `aff_code` varchar(32) UNIQUE,`aff_count` integer DEFAULT 0,`aff_quota` integer DEFAULT 0,
  `aff_history` integer DEFAULT 0,`inviter_id` integer,`deleted_at` datetime,`linux_do_id` text,
  `setting` text,`remark` varchar(255),PRIMARY KEY (`id`));
CREATE INDEX `idx_users_deleted_at` ON `users`(`deleted_at`);
CREATE TABLE `tokens` (`id` integer,`user_id` integer,`key` char(48) UNIQUE,`status` integer DEFAULT 1,
  `name` text,`created_time` bigint,`accessed_time` bigint,`expired_time` bigint DEFAULT -1,
  `remain_quota` integer DEFAULT 0,`unlimited_quota` numeric,`model_limits_enabled` numeric,
  `model_limits` varchar(1024) DEFAULT '',`allow_ips` text DEFAULT '',`used_quota` integer DEFAULT 0,
  `group` text DEFAULT '',`deleted_at` datetime,PRIMARY KEY (`id`));
CREATE INDEX `idx_tokens_user_id` ON `tokens`(`user_id`);
CREATE TABLE `channels` (`id` integer,`type` integer DEFAULT 0,`key` text NOT NULL,
  `open_ai_organization` text,`test_model` text,`status` integer DEFAULT 1,`name` text,
  `weight` integer DEFAULT 0,`created_time` bigint,`test_time` bigint,`response_time` integer,
  `base_url` text DEFAULT '',`other` text,`balance` real,`balance_updated_time` bigint,`models` text,
  `group` varchar(64) DEFAULT 'default',`used_quota` bigint DEFAULT 0,`model_mapping` text,
  `status_code_mapping` varchar(1024) DEFAULT '',`priority` bigint DEFAULT 0,`auto_ban` integer DEFAULT 1,
  `other_info` text,`tag` text,`setting` text,`param_override` text,`channel_info` json,PRIMARY KEY (`id`));
CREATE INDEX `idx_channels_tag` ON `channels`(`tag`);
CREATE TABLE `redemptions` (`id` integer,`user_id` integer,`key` char(32) UNIQUE,`status` integer DEFAULT 1,
  `name` text,`quota` integer DEFAULT 100,`created_time` bigint,`redeemed_time` bigint,
  `used_user_id` integer,`deleted_at` datetime,`expired_time` bigint,PRIMARY KEY (`id`));
CREATE TABLE `options` (`key` text,`value` text,PRIMARY KEY (`key`));
CREATE TABLE `setups` (`id` integer,`version` varchar(50) NOT NULL,`initialized_at` bigint NOT NULL,PRIMARY KEY (`id`));
'''

# One API on MySQL/MariaDB
ONEAPI_MYSQL = '''
CREATE TABLE `users` (`id` bigint AUTO_INCREMENT,`username` varchar(191) UNIQUE,`password` longtext NOT NULL,
  `display_name` varchar(191),`role` int DEFAULT 1,`status` int DEFAULT 1,`email` varchar(191),
  `github_id` varchar(191),`wechat_id` varchar(191),`lark_id` varchar(191),`oidc_id` varchar(191),
  `access_token` char(32),`quota` bigint DEFAULT 0,`used_quota` bigint DEFAULT 0,`request_count` int DEFAULT 0,
  `group` varchar(32) DEFAULT 'default',`aff_code` varchar(32),`inviter_id` int,PRIMARY KEY (`id`),
  INDEX `idx_users_username` (`username`),INDEX `idx_users_display_name` (`display_name`),
  INDEX `idx_users_email` (`email`),UNIQUE INDEX `idx_users_access_token` (`access_token`),
  UNIQUE INDEX `idx_users_aff_code` (`aff_code`),INDEX `idx_users_inviter_id` (`inviter_id`));
CREATE TABLE `tokens` (`id` bigint AUTO_INCREMENT,`user_id` bigint,`key` char(48),`status` bigint DEFAULT 1,
  `name` varchar(191),`created_time` bigint,`accessed_time` bigint,`expired_time` bigint DEFAULT -1,
  `remain_quota` bigint DEFAULT 0,`unlimited_quota` boolean DEFAULT false,`used_quota` bigint DEFAULT 0,
  `models` text,`subnet` varchar(191) DEFAULT '',PRIMARY KEY (`id`),UNIQUE INDEX `idx_tokens_key` (`key`),
  INDEX `idx_tokens_name` (`name`));
CREATE TABLE `channels` (`id` bigint AUTO_INCREMENT,`type` bigint DEFAULT 0,`key` text,`status` bigint DEFAULT 1,
  `name` varchar(191),`weight` bigint unsigned DEFAULT 0,`created_time` bigint,`test_time` bigint,
  `response_time` bigint,`base_url` varchar(191) DEFAULT '',`other` longtext,`balance` double,
  `balance_updated_time` bigint,`models` longtext,`group` varchar(32) DEFAULT 'default',
  `used_quota` bigint DEFAULT 0,`model_mapping` varchar(1024) DEFAULT '',`priority` bigint DEFAULT 0,
  `config` longtext,`system_prompt` text,PRIMARY KEY (`id`),INDEX `idx_channels_name` (`name`));
CREATE TABLE `redemptions` (`id` bigint AUTO_INCREMENT,`user_id` bigint,`key` char(32),`status` bigint DEFAULT 1,
  `name` varchar(191),`quota` bigint DEFAULT 100,`created_time` bigint,`redeemed_time` bigint,
  PRIMARY KEY (`id`),UNIQUE INDEX `idx_redemptions_key` (`key`),INDEX `idx_redemptions_name` (`name`));
CREATE TABLE `options` (`key` varchar(191),`value` longtext,PRIMARY KEY (`key`));
CREATE TABLE `abilities` (`group` varchar(32),`model` varchar(191),`channel_id` bigint,`enabled` boolean,
  `priority` bigint DEFAULT 0,PRIMARY KEY (`group`,`model`,`channel_id`),INDEX `idx_abilities_channel_id` (`channel_id`),
  INDEX `idx_abilities_priority` (`priority`));
CREATE TABLE `logs` (`id` bigint AUTO_INCREMENT,`user_id` bigint,`created_at` bigint,`type` bigint,`content` longtext,
  `username` varchar(191) DEFAULT '',`token_name` varchar(191) DEFAULT '',`model_name` varchar(191) DEFAULT '',
  `quota` bigint DEFAULT 0,`prompt_tokens` bigint DEFAULT 0,`completion_tokens` bigint DEFAULT 0,
  `channel_id` bigint,`request_id` varchar(191) DEFAULT '',`elapsed_time` bigint DEFAULT 0,
  `is_stream` boolean DEFAULT false,`system_prompt_reset` boolean DEFAULT false,PRIMARY KEY (`id`),
  INDEX `idx_logs_user_id` (`user_id`),INDEX `idx_created_at_type` (`created_at`,`type`));
'''

# New API on MySQL/MariaDB
NEWAPI_MYSQL = '''
CREATE TABLE `users` (`id` bigint AUTO_INCREMENT,`username` varchar(191) UNIQUE,`password` longtext NOT NULL,
  `display_name` varchar(191),`role` int DEFAULT 1,`status` int DEFAULT 1,`email` varchar(191),
  `github_id` varchar(191),`discord_id` varchar(191),`oidc_id` varchar(191),`wechat_id` varchar(191),
  `telegram_id` varchar(191),`access_token` char(32),`quota` int DEFAULT 0,`used_quota` int DEFAULT 0,
  `request_count` int DEFAULT 0,`group` varchar(64) DEFAULT 'default',`aff_code` varchar(32),
  `aff_count` int DEFAULT 0,`aff_quota` int DEFAULT 0,`aff_history` int DEFAULT 0,`inviter_id` int,
  `deleted_at` datetime(3) NULL,`linux_do_id` varchar(191),`setting` text,`remark` varchar(255),
  PRIMARY KEY (`id`),INDEX `idx_users_username` (`username`),UNIQUE INDEX `idx_users_access_token` (`access_token`),
  UNIQUE INDEX `idx_users_aff_code` (`aff_code`),INDEX `idx_users_deleted_at` (`deleted_at`));
CREATE TABLE `tokens` (`id` bigint AUTO_INCREMENT,`user_id` bigint,`key` char(48),`status` bigint DEFAULT 1,
  `name` varchar(191),`created_time` bigint,`accessed_time` bigint,`expired_time` bigint DEFAULT -1,
  `remain_quota` bigint DEFAULT 0,`unlimited_quota` boolean,`model_limits_enabled` boolean,
  `model_limits` varchar(1024) DEFAULT '',`allow_ips` varchar(191) DEFAULT '',`used_quota` bigint DEFAULT 0,
  `group` varchar(191) DEFAULT '',`deleted_at` datetime(3) NULL,PRIMARY KEY (`id`),
  INDEX `idx_tokens_user_id` (`user_id`),UNIQUE INDEX `idx_tokens_key` (`key`),INDEX `idx_tokens_name` (`name`),
  INDEX `idx_tokens_deleted_at` (`deleted_at`));
CREATE TABLE `channels` (`id` bigint AUTO_INCREMENT,`type` bigint DEFAULT 0,`key` longtext NOT NULL,
  `open_ai_organization` longtext,`test_model` longtext,`status` bigint DEFAULT 1,`name` varchar(191),
  `weight` bigint unsigned DEFAULT 0,`created_time` bigint,`test_time` bigint,`response_time` bigint,
  `base_url` varchar(191) DEFAULT '',`other` longtext,`balance` double,`balance_updated_time` bigint,
  `models` longtext,`group` varchar(64) DEFAULT 'default',`used_quota` bigint DEFAULT 0,
  `model_mapping` text,`status_code_mapping` varchar(1024) DEFAULT '',`priority` bigint DEFAULT 0,
  `auto_ban` bigint DEFAULT 1,`other_info` longtext,`tag` varchar(191),`setting` text,
  `param_override` text,`channel_info` json,PRIMARY KEY (`id`),INDEX `idx_channels_name` (`name`),INDEX `idx_channels_tag` (`tag`));
CREATE TABLE `redemptions` (`id` bigint AUTO_INCREMENT,`user_id` bigint,`key` char(32),`status` bigint DEFAULT 1,
  `name` varchar(191),`quota` bigint DEFAULT 100,`created_time` bigint,`redeemed_time` bigint,
  `used_user_id` bigint,`deleted_at` datetime(3) NULL,`expired_time` bigint,PRIMARY KEY (`id`),
  UNIQUE INDEX `idx_redemptions_key` (`key`),INDEX `idx_redemptions_name` (`name`),
  INDEX `idx_redemptions_used_user_id` (`used_user_id`),INDEX `idx_redemptions_deleted_at` (`deleted_at`));
CREATE TABLE `options` (`key` varchar(191),`value` longtext,PRIMARY KEY (`key`));
CREATE TABLE `setups` (`id` bigint AUTO_INCREMENT,`version` varchar(50) NOT NULL,`initialized_at` bigint NOT NULL,PRIMARY KEY (`id`));
'''

# One API on PostgreSQL
ONEAPI_PG = '''
CREATE TABLE "users" ("id" bigserial,"username" text UNIQUE,"password" text NOT NULL,"display_name" text,
  "role" bigint DEFAULT 1,"status" bigint DEFAULT 1,"email" text,"github_id" text,"wechat_id" text,
  "lark_id" text,"oidc_id" text,"access_token" char(32) UNIQUE,"quota" bigint DEFAULT 0,
  "used_quota" bigint DEFAULT 0,"request_count" bigint DEFAULT 0,"group" varchar(32) DEFAULT 'default',
  "aff_code" varchar(32) UNIQUE,"inviter_id" bigint,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_users_display_name" ON "users" ("display_name");
CREATE TABLE "tokens" ("id" bigserial,"user_id" bigint,"key" char(48) UNIQUE,"status" bigint DEFAULT 1,
  "name" text,"created_time" bigint,"accessed_time" bigint,"expired_time" bigint DEFAULT -1,
  "remain_quota" bigint DEFAULT 0,"unlimited_quota" boolean DEFAULT false,"used_quota" bigint DEFAULT 0,
  "models" text,"subnet" text DEFAULT '',PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_tokens_name" ON "tokens" ("name");
CREATE TABLE "channels" ("id" bigserial,"type" bigint DEFAULT 0,"key" text,"status" bigint DEFAULT 1,
  "name" text,"weight" bigint DEFAULT 0,"created_time" bigint,"test_time" bigint,
  "response_time" bigint,"base_url" text DEFAULT '',"other" text,"balance" decimal,
  "balance_updated_time" bigint,"models" text,"group" varchar(32) DEFAULT 'default',
  "used_quota" bigint DEFAULT 0,"model_mapping" varchar(1024) DEFAULT '',"priority" bigint DEFAULT 0,
  "config" text,"system_prompt" text,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_channels_name" ON "channels" ("name");
CREATE TABLE "redemptions" ("id" bigserial,"user_id" bigint,"key" char(32) UNIQUE,"status" bigint DEFAULT 1,
  "name" text,"quota" bigint DEFAULT 100,"created_time" bigint,"redeemed_time" bigint,PRIMARY KEY ("id"));
CREATE TABLE "options" ("key" text,"value" text,PRIMARY KEY ("key"));
CREATE TABLE "abilities" ("group" varchar(32),"model" text,"channel_id" bigint,"enabled" boolean,
  "priority" bigint DEFAULT 0,PRIMARY KEY ("group","model","channel_id"));
CREATE TABLE "logs" ("id" bigserial,"user_id" bigint,"created_at" bigint,"type" bigint,"content" text,
  "username" text DEFAULT '',"token_name" text DEFAULT '',"model_name" text DEFAULT '',
  "quota" bigint DEFAULT 0,"prompt_tokens" bigint DEFAULT 0,"completion_tokens" bigint DEFAULT 0,
  "channel_id" bigint,"request_id" text DEFAULT '',"elapsed_time" bigint DEFAULT 0,
  "is_stream" boolean DEFAULT false,"system_prompt_reset" boolean DEFAULT false,PRIMARY KEY ("id"));
'''

# New API on PostgreSQL: NEWAPI_MYSQL's columns by gorm.io/driver/postgres's mapping (see above:
# longtext and varchar(191) -> text, `size:`/`type:` kept, double -> decimal, datetime(3) ->
# timestamptz, bigint unsigned -> bigint, an int primary key -> bigserial)
NEWAPI_PG = '''
CREATE TABLE "users" ("id" bigserial,"username" text UNIQUE,"password" text NOT NULL,"display_name" text,
  "role" int DEFAULT 1,"status" int DEFAULT 1,"email" text,"github_id" text,"discord_id" text,"oidc_id" text,
  "wechat_id" text,"telegram_id" text,"access_token" char(32) UNIQUE,"quota" int DEFAULT 0,
  "used_quota" int DEFAULT 0,"request_count" int DEFAULT 0,"group" varchar(64) DEFAULT 'default',
  "aff_code" varchar(32) UNIQUE,"aff_count" int DEFAULT 0,"aff_quota" int DEFAULT 0,
  "aff_history" int DEFAULT 0,"inviter_id" int,"deleted_at" timestamptz,"linux_do_id" text,
  "setting" text,"remark" varchar(255),PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_users_deleted_at" ON "users" ("deleted_at");
CREATE TABLE "tokens" ("id" bigserial,"user_id" bigint,"key" char(48) UNIQUE,"status" bigint DEFAULT 1,
  "name" text,"created_time" bigint,"accessed_time" bigint,"expired_time" bigint DEFAULT -1,
  "remain_quota" bigint DEFAULT 0,"unlimited_quota" boolean,"model_limits_enabled" boolean,
  "model_limits" varchar(1024) DEFAULT '',"allow_ips" text DEFAULT '',"used_quota" bigint DEFAULT 0,
  "group" text DEFAULT '',"deleted_at" timestamptz,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_tokens_user_id" ON "tokens" ("user_id");
CREATE TABLE "channels" ("id" bigserial,"type" bigint DEFAULT 0,"key" text NOT NULL,
  "open_ai_organization" text,"test_model" text,"status" bigint DEFAULT 1,"name" text,
  "weight" bigint DEFAULT 0,"created_time" bigint,"test_time" bigint,"response_time" bigint,
  "base_url" text DEFAULT '',"other" text,"balance" decimal,"balance_updated_time" bigint,"models" text,
  "group" varchar(64) DEFAULT 'default',"used_quota" bigint DEFAULT 0,"model_mapping" text,
  "status_code_mapping" varchar(1024) DEFAULT '',"priority" bigint DEFAULT 0,"auto_ban" bigint DEFAULT 1,
  "other_info" text,"tag" text,"setting" text,"param_override" text,PRIMARY KEY ("id"));
CREATE TABLE "redemptions" ("id" bigserial,"user_id" bigint,"key" char(32) UNIQUE,"status" bigint DEFAULT 1,
  "name" text,"quota" bigint DEFAULT 100,"created_time" bigint,"redeemed_time" bigint,
  "used_user_id" bigint,"deleted_at" timestamptz,"expired_time" bigint,PRIMARY KEY ("id"));
CREATE TABLE "options" ("key" text,"value" text,PRIMARY KEY ("key"));
CREATE TABLE "setups" ("id" bigserial,"version" varchar(50) NOT NULL,"initialized_at" bigint NOT NULL,
  PRIMARY KEY ("id"));
'''


def ddl_columns(ddl):
    """{table: [columns]} of a DDL string above."""
    import re
    out = {}
    for m in re.finditer(r'CREATE TABLE [`"](\w+)[`"] \((.*?)\);\n', ddl, re.S):
        out[m.group(1)] = re.findall(r',\s*[`"](\w+)[`"]\s+[a-z]', ',' + m.group(2))
    return out


def copy_rows(sqlite_path, ddl):
    """INSERT statements of every row of the SQLite database at sqlite_path, for the tables and
    columns of ddl (MySQL quotes names with backquotes, PostgreSQL with double quotes). Every value
    is a quoted literal, which both servers convert to the column's type (0/1 to a boolean too)."""
    import sqlite3
    q = '`' if '`' in ddl else '"'
    db = sqlite3.connect("file:" + sqlite_path + "?mode=ro", uri=True)
    lines = []
    for table, cols in ddl_columns(ddl).items():
        have = [r[1] for r in db.execute("SELECT * FROM pragma_table_info(?)", (table,))]
        use = [c for c in cols if c in have]
        if not use:
            continue
        sel = ", ".join('"%s"' % c for c in use)
        for row in db.execute("SELECT %s FROM \"%s\"" % (sel, table)):
            vals = ["NULL" if v is None else "'" + str(v).replace("\\", "\\\\" if q == '`' else "\\").replace("'", "''") + "'"
                    for v in row]
            lines.append("INSERT INTO %s%s%s (%s) VALUES (%s);" % (q, table, q,
                         ", ".join(q + c + q for c in use), ", ".join(vals)))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    names = ("ONEAPI_SQLITE", "NEWAPI_SQLITE", "ONEAPI_MYSQL", "NEWAPI_MYSQL", "ONEAPI_PG", "NEWAPI_PG")
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in names:
        sys.exit("usage: import_sources.py " + "|".join(names) + " [SOURCE.db]")
    sys.stdout.write(globals()[sys.argv[1]])
    if len(sys.argv) == 3:
        sys.stdout.write(copy_rows(sys.argv[2], globals()[sys.argv[1]]))
