/*
 * limits: requests and tokens per window (RPM / TPM) for tokens and users, on one model or on all
 * models together, checked in memory on the request path.
 *
 * Algorithm: each limit is a token bucket of capacity N that refills continuously at N per window
 * (GCRA, gcra.h: one atomic "theoretical arrival time" per limit; a request CASes it forward by its cost).
 * So a client may spend N at once, then one more every window/N; "reset" is when the bucket is
 * full again. Workers share the process: every worker takes from the same atomic, so a limit is
 * exact per relayd node (with several nodes each node counts alone: the limit is per node).
 * Tokens: a request takes its estimate (prompt estimate + max_tokens, or the pre-consume default)
 * when it is admitted, and settle gives back or takes the difference to what it really used.
 *
 * The states (struct rate_state) live in a process-wide table keyed by scope, id and model, so a
 * reload keeps the windows; the snapshot points at them (limits_state() at load).
 * Callers: snapshot.c (load), relay's stages (admit.c, settle.c, respond.c: admit, settle,
 * headers), admin.c (counters).
 * Never: blocks, allocates on the request path, or touches the database.
 */
#ifndef RELAY_LIMITS_H
#define RELAY_LIMITS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rate_state {
  _Atomic int64_t req_tat_ns;   /* GCRA theoretical arrival time of the request bucket */
  _Atomic int64_t tok_tat_ns;   /* and of the token bucket (monotonic ns) */
};

/* One configured limit, in a snapshot. */
struct snap_limit {
  const char *model;            /* "" = every model together */
  int64_t rpm, tpm;             /* per window; 0 = no limit */
  struct rate_state *st;        /* process-wide, stable */
};

struct snap_limits {
  struct snap_limit *items;
  size_t n;
};

enum limit_kind { LIMIT_REQUESTS, LIMIT_TOKENS };
enum limit_scope { LIMIT_TOKEN, LIMIT_USER };

/* What the headers report for one kind: the tightest applicable limit. */
struct limit_view {
  bool set;
  int64_t limit, remaining;
  int64_t reset_ms;             /* until the bucket is full again */
};

/* One request's admission: what it took, to settle or undo later. */
#define LIMITS_MAX_HELD 4
struct limit_hold {
  int n;
  struct {
    const struct snap_limit *l;
    int64_t req_inc, tok_inc;   /* ns the request took from each bucket */
  } held[LIMITS_MAX_HELD];
  int64_t tokens;               /* tokens taken (the estimate) */
  int64_t window_ns;
  struct limit_view req, tok;   /* for the x-ratelimit-* headers */
};

/* Why admission failed. */
struct limit_refusal {
  enum limit_kind kind;
  enum limit_scope scope;
  const char *model;            /* the limit's model ("" = all) */
  int64_t limit;
  int64_t retry_after_ms;       /* -1: the request can never pass (larger than the limit) */
};

/* The state of (scope, id, model), created on first use; never freed before limits_shutdown. */
struct rate_state *limits_state(char scope, int64_t id, const char *model);
void limits_shutdown(void);

/* Admits a request for model costing tokens under the token's and the user's limits (either list
 * may be NULL). On success fills hold and returns true; on refusal takes nothing, fills why and
 * returns false. */
bool limits_admit(const struct snap_limits *token_limits, const struct snap_limits *user_limits,
                  const char *model, int64_t tokens, int64_t window_s, struct limit_hold *hold,
                  struct limit_refusal *why);
/* The request used `used` tokens: the token buckets get the difference to the estimate. */
void limits_settle(struct limit_hold *hold, int64_t used);
/* Gives everything back (the request was refused later, before it reached an upstream). */
void limits_undo(struct limit_hold *hold);

/* A duration as OpenAI writes it in x-ratelimit-reset-*: "20ms", "1.5s", "6m0s", "1h2m3s". */
void limits_format_duration(int64_t ms, char *out, size_t n);

#endif
