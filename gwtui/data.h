/*
 * data: everything gwtui knows about relayd, filled from the admin socket and the database.
 *
 * Owns: two non-blocking admin connections (doc/admin-protocol.md): one asks "status" and "stats"
 * once per refresh, the other is in subscribe mode and receives one event per finished request;
 * reconnecting every refresh while relayd is away; per-sample history rings for the sparklines;
 * the ring of recent request events (live log, top consumers); channel attributes read from the
 * database (read only: SELECTs, and only when the file already exists).
 * Callers: gwtui/main.c (fds for poll, handle, tick) and the panels (read the structures).
 * Never: touches the terminal, blocks (every socket is non-blocking and polled by main), writes
 * the database, or changes anything in relayd (actions go through gwctl: see action.h).
 */
#ifndef GWTUI_DATA_H
#define GWTUI_DATA_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "codes.h"          /* channel status numbers (STATUS_*) */

#define GW_HIST 600             /* samples kept per sparkline (10 minutes at the default 1 s) */
#define GW_EVENTS 16384         /* request events kept (live log, top consumers) */
#define GW_CHAN_HIST 61         /* per-channel samples for recent rates */
#define GW_NAME 64

/* One finished request, from the subscribe stream. */
struct gw_event {
  uint64_t seq;                 /* 1, 2, ... in arrival order */
  int64_t ts_ms;
  int64_t channel_id;
  int status;
  int stream;
  int64_t prompt_tokens, completion_tokens, quota;
  double elapsed_ms, first_byte_ms;
  char request_id[48];
  char model[GW_NAME];
  char token[GW_NAME];
  char user[GW_NAME];
  char end_reason[24];
  char reason[32];              /* the error code relayd answered with ("" none; "upstream": the
                                 * upstream's own error passed on) */
  char error[200];              /* that answer's message: a 502's says what the upstream said */
  int refused;                  /* relayd answered itself before any upstream (401, 403, 429, 503...) */
};

/* A ring of samples, oldest first when read through gw_ring_copy. */
struct gw_ring {
  double v[GW_HIST];
  size_t head, n;
};

#define GW_POOL_SHOWN 8

struct gw_channel {
  int64_t id;
  char name[GW_NAME];
  /* from the database (in_db) */
  int in_db;
  int status;                   /* STATUS_ENABLED, _DISABLED, _AUTO_DISABLED (codes.h); 0 unknown */
  int64_t priority, weight;
  int64_t test_time, response_time;
  char type[24];
  char tag[GW_NAME];
  char models[256];
  char reason[160];             /* why relayd disabled it (status 3); stats, else the database */
  double balance;               /* the upstream's last balance (channel_balances), when balance_time */
  char balance_cur[8];
  int64_t balance_time;         /* 0: never read */
  char breaker[12];             /* circuit breaker from stats: closed, open, half-open; "" unknown */
  double latency_ewma_ms;       /* stats: the latency average routing = latency uses */
  /* from stats (in_stats), counters since relayd started */
  int in_stats;
  int64_t requests, errors, prompt_tokens, completion_tokens, quota;
  int64_t in_flight;            /* upstream transfers open now */
  int64_t attempt_failures;     /* attempts that failed on this channel, retried elsewhere or not */
  int64_t rpm, tpm, limited_total; /* its limits and the times they passed it over (chanlimit.h) */
  double p50_ms, p99_ms;
  /* a key pool's keys (stats "keys"; relayd/keypool.h), the first GW_POOL_SHOWN of them */
  char key_mode[16];            /* "" when the channel has no pool */
  int nkeys, keys_off;          /* keys in the pool, of which not chosen now */
  struct gw_pool_key {
    int64_t index, requests, errors, spend;
    char status[16];
  } keys[GW_POOL_SHOWN];
  /* derived */
  double rps;                   /* over the last few samples */
  double err_pct;               /* over the last minute; -1 when no request in it */
  int64_t h_req[GW_CHAN_HIST], h_err[GW_CHAN_HIST];
  double h_t[GW_CHAN_HIST];
  size_t h_n;
};

enum gw_conn_state { GW_DOWN, GW_GREETING, GW_READY };

struct gw_conn {
  int fd;
  enum gw_conn_state state;
  int subscribe;                /* this connection asks "subscribe" after the greeting */
  char *in;                     /* bytes read, not yet a whole line */
  size_t inlen, incap;
  char want[8];                 /* answers awaited, in order: 's' status, 't' stats, 'b' subscribe */
  size_t nwant;
  double asked_at;              /* when the oldest awaited answer was asked (mono seconds) */
};

enum gw_top_kind { GW_TOP_MODEL, GW_TOP_USER, GW_TOP_TOKEN };

struct gw_top_row {
  char key[GW_NAME];
  char user[GW_NAME];           /* GW_TOP_TOKEN: the token's user (names are unique per user) */
  int64_t requests, errors, tokens, quota;
};

struct gw_data {
  const char *socket_path;
  const char *db_url;
  int refresh_ms;

  struct gw_conn poll, sub;
  int connected;                /* the poll connection is up and answered status */
  char conn_err[256];           /* why not, when not */
  double down_since;            /* mono seconds; 0 while connected */
  double last_try;

  /* status */
  int have_status;
  char version[32];
  int64_t pid, uptime_s, workers, in_flight, requests_total, snapshot_version;
  int64_t writer_backlog, writer_rows_total, events_dropped;
  int64_t aff_entries, aff_hits, aff_misses;   /* stats "affinity" (relayd/affinity.h) */
  int64_t rt_sessions, rt_sessions_total;   /* Realtime API sessions open now / since start */
  int draining;

  /* rates of the last sample and their history */
  double rps, tps, spend_per_min;
  double err_pct;               /* errors / events over the last minute; -1 when no event */
  struct gw_ring h_rps, h_tps, h_spend, h_inflight, h_err;
  struct gw_ring h_nev, h_nerr; /* events and errors per sample, for err_pct */
  double prev_t;                /* mono time of the previous status */
  int64_t prev_total;
  int64_t acc_tokens, acc_quota, acc_events, acc_errors;   /* events since the previous sample */
  int64_t acc_refused;
  struct gw_ring h_nref;        /* refusals per sample */
  int64_t refused_1m;           /* refusals (relayd's own 4xx/5xx answers) over the last minute */

  struct gw_channel *chans;     /* sorted by id */
  size_t nchans, chans_alloc;

  struct gw_event *ev;          /* ring of GW_EVENTS */
  uint64_t ev_seq;              /* seq of the newest event (0: none yet) */

  struct db *db;
  char db_err[256];
  double db_read_at;
  int db_dirty;                 /* read the channels again at the next tick */

  double next_tick;             /* mono seconds */
  unsigned gen;                 /* bumped whenever anything shown may have changed */
};

void data_init(struct gw_data *d, const char *socket_path, const char *db_url, int refresh_ms);
void data_free(struct gw_data *d);

/* Adds the fds to poll (at most 2) to pfd; returns how many. */
int data_pollfds(struct gw_data *d, struct pollfd *pfd);
/* Reads what poll() reported on the fds data_pollfds() added (same array, same count). */
void data_handle(struct gw_data *d, const struct pollfd *pfd, int n);
/* Milliseconds until data_tick() is due (0: now). */
int data_timeout_ms(const struct gw_data *d);
/* Runs what is due: asks status and stats, reconnects, samples history, reads the database. */
void data_tick(struct gw_data *d);
/* Reads the channels from the database at the next tick (after an action changed them). */
void data_db_refresh(struct gw_data *d);

/* The i-th newest event (0 = newest) at or before seq max_seq, or NULL. */
const struct gw_event *data_event(const struct gw_data *d, uint64_t max_seq, size_t i);
size_t data_event_count(const struct gw_data *d);
const struct gw_channel *data_channel(const struct gw_data *d, int64_t id);

/* Copies the last n samples of r into out (oldest first); returns how many. */
size_t gw_ring_copy(const struct gw_ring *r, double *out, size_t n);

/* Sums events of the last window_s seconds by model, user or token into *rows (caller frees).
 * Returns the row count; *covered_s gets how many seconds the kept events actually cover. */
size_t data_top(const struct gw_data *d, enum gw_top_kind kind, int window_s,
                struct gw_top_row **rows, double *covered_s);

double mono_now(void);

#endif
