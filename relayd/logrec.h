/*
 * logrec: what the writer is handed -- one log record per relayed request (or its reservation)
 * and the state changes relayd makes itself -- shared by the writer (writer.c: the queue, the
 * thread) and the transaction that stores them (commit.c). Plain data: no functions.
 * Callers: everything that includes writer.h (which includes this); commit.c. Never: points at
 * memory a record does not keep alive (balances outlive every snapshot that names them).
 */
#ifndef RELAY_LOGREC_H
#define RELAY_LOGREC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct balance;
struct chan_health;

struct log_record {
  bool reservation;           /* not a log row: "request_id reserved quota" (see writer.c) */
  char request_id[40];
  int64_t created_at;
  int type;
  int64_t user_id;
  char username[64];
  int64_t token_id;
  char token_name[64];
  int64_t channel_id;
  char model[128];
  char upstream_model[128];
  char group[64];
  int64_t prompt_tokens, completion_tokens, quota;
  int status;
  bool is_stream;
  int64_t elapsed_ms, first_byte_ms;
  char end_reason[16];
  char usage_source[12];
  char api[16];               /* the client's inbound API (request.h inbound_api), "" unknown */
  char content[256];
  char billing[1024];         /* how the charge was computed: a JSON object (billing_explain_json), or "" */
  struct balance *user_bal;   /* the request's balances, also when it charged 0 (ledger_committed) */
  struct balance *token_bal;  /* NULL exactly when the token is unlimited: remain_quota is not moved */
};

/* State changes relayd makes itself (channel health, alerts), committed with the next batch
 * (writer_submit_op). */
enum writer_op_kind {
  WOP_CHANNEL_STATUS,   /* id = channel: status (1 re-enable from 3, 3 auto-disable from 1), reason */
  WOP_CHANNEL_TESTED,   /* id = channel: a = test_time, b = response_time (ms) */
  WOP_ALERT_STATE,      /* id = budget_alerts.id: a = fired_at (0 re-arms), b = fired_total */
  WOP_REMINDER_STATE,   /* id = user: a = fired_at (0 re-arms), b = fired_total */
  WOP_KEY_STATUS,       /* id = channel, a = channel_keys.idx: status (1 from 3, 3 from 1), reason */
  WOP_BALANCE,          /* id = channel: a = balance in millionths, b = updated_time, reason = currency
                         * (channel_balances, relayd/balpoll.h) */
  WOP_BALANCE_LOW,      /* id = channel: a = low_fired_time (0 re-arms the low-balance alert) */
};

struct writer_op {
  enum writer_op_kind kind;
  int64_t id;
  int status;
  int64_t a, b;
  char text[256];             /* a system log row (type 4) with this content when not empty */
  char reason[200];           /* WOP_CHANNEL_STATUS to 3: channels.status_reason */
  int64_t log_user_id;        /* the log row's user (alerts), channel_id = id for channel ops */
  char log_username[64];
  struct chan_health *health; /* WOP_CHANNEL_STATUS: its auto_disabled flag follows the commit */
  _Atomic int *key_flag;      /* WOP_KEY_STATUS: the key's flag (keypool.h), likewise */
};

#endif
