/*
 * codes: the numbers the database stores for entity states, roles and log types (One API's codes,
 * so an imported database keeps its meaning), in one place for relayd, gwctl and gwtui.
 *
 * They are macros, not enumerators, so SQL text can be built from them at compile time:
 * "... WHERE status = " CODE_STR(STATUS_ENABLED). Names for people (gwctl's "enabled",
 * "auto-disabled", gwtui's "auto-off") stay with the program that prints them.
 * Callers: relayd (snapshot, relay, health, monitor, writer, admin, metrics), gwctl, gwtui.
 * Never: holds anything but numbers; a number here is never renumbered (the databases keep them).
 */
#ifndef RELAY_CODES_H
#define RELAY_CODES_H

/* A code as an SQL literal: CODE_STR(LOGT_CONSUME) is "2". */
#define CODE_STR(c) CODE_STR_(c)
#define CODE_STR_(c) #c

/* users.status, tokens.status, channels.status */
#define STATUS_ENABLED 1
#define STATUS_DISABLED 2           /* by an administrator */
#define STATUS_EXPIRED 3            /* tokens: expired_time passed */
#define STATUS_EXHAUSTED 4          /* tokens: no quota left */
#define STATUS_AUTO_DISABLED 3      /* channels: by relayd (health, a test); a passing test re-enables */

/* users.role */
#define ROLE_GUEST 0
#define ROLE_COMMON 1
#define ROLE_ADMIN 10
#define ROLE_ROOT 100

/* redemptions.status */
#define REDEEM_ENABLED 1
#define REDEEM_DISABLED 2
#define REDEEM_USED 3

/* logs.type; LOGT_ACCESS is no database row, only an access log line (a request never billed). */
#define LOGT_ACCESS 0
#define LOGT_TOPUP 1
#define LOGT_CONSUME 2
#define LOGT_MANAGE 3
#define LOGT_SYSTEM 4
#define LOGT_ERROR 5
#define LOGT_REFUND 6

#endif
