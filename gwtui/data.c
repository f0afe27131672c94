/*
 * data: relayd's live state for gwtui (see data.h for the contract).
 *
 * Owns: the two admin connections and their line buffers, the history rings, the event ring, the
 * channel table and the read-only database handle.
 * Callers: gwtui/main.c (data_pollfds / data_handle / data_tick) and the panels (read only).
 * Never: blocks. common/admin_client.c waits up to 5 s per exchange, which would freeze the screen
 * while relayd's admin thread is busy (channel_test holds it up to 30 s), so this file speaks the
 * same protocol (doc/admin-protocol.md, version 1) on non-blocking sockets driven by main's poll().
 */
#include "quota.h"
#include "data.h"
#include "admin_client.h"
#include "i18n.h"
#include "db.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES ADMIN_REPLY_MAX    /* relayd's answers (stats grows with known models) */
#define ANSWER_TIMEOUT_S 35.0   /* channel_test may hold relayd's admin thread for 30 s */
#define RETRY_S 1.0             /* reconnect period while relayd is away */
#define DB_PERIOD_S 5.0

double mono_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ring_push(struct gw_ring *r, double v)
{
  r->v[r->head] = v;
  r->head = (r->head + 1) % GW_HIST;
  if (r->n < GW_HIST)
    r->n++;
}

size_t gw_ring_copy(const struct gw_ring *r, double *out, size_t n)
{
  if (n > r->n)
    n = r->n;
  size_t start = (r->head + GW_HIST - n) % GW_HIST;
  for (size_t i = 0; i < n; i++)
    out[i] = r->v[(start + i) % GW_HIST];
  return n;
}

/* The sum of the last n samples. */
static double ring_sum(const struct gw_ring *r, size_t n)
{
  double s = 0;
  if (n > r->n)
    n = r->n;
  for (size_t i = 1; i <= n; i++)
    s += r->v[(r->head + GW_HIST - i) % GW_HIST];
  return s;
}

/* Copies src into dst[len], cut at len - 1 bytes. */
static void copy_str(char *dst, size_t len, const char *src)
{
  size_t n = src ? strlen(src) : 0;
  if (n >= len)
    n = len - 1;
  if (n)
    memcpy(dst, src, n);
  dst[n] = '\0';
}

static double num(const cJSON *o, const char *k)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
  const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
  return s ? s : "";
}

/* ---- channels ----------------------------------------------------------------------------------- */

const struct gw_channel *data_channel(const struct gw_data *d, int64_t id)
{
  size_t lo = 0, hi = d->nchans;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (d->chans[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < d->nchans && d->chans[lo].id == id ? &d->chans[lo] : NULL;
}

static struct gw_channel *channel_get(struct gw_data *d, int64_t id)
{
  struct gw_channel *c = (struct gw_channel *)data_channel(d, id);
  if (c)
    return c;
  if (d->nchans == d->chans_alloc) {
    size_t n = d->chans_alloc ? d->chans_alloc * 2 : 16;
    struct gw_channel *p = realloc(d->chans, n * sizeof *p);
    if (!p)
      return NULL;
    d->chans = p;
    d->chans_alloc = n;
  }
  size_t at = 0;
  while (at < d->nchans && d->chans[at].id < id)
    at++;
  memmove(&d->chans[at + 1], &d->chans[at], (d->nchans - at) * sizeof *d->chans);
  d->nchans++;
  c = &d->chans[at];
  memset(c, 0, sizeof *c);
  c->id = id;
  c->err_pct = -1;
  return c;
}

/* Drops channels neither the database nor relayd's counters know any more. */
static void channels_compact(struct gw_data *d)
{
  size_t j = 0;
  for (size_t i = 0; i < d->nchans; i++)
    if (d->chans[i].in_db || d->chans[i].in_stats)
      d->chans[j++] = d->chans[i];
  d->nchans = j;
}

static void channel_sample(struct gw_channel *c, double t)
{
  if (c->h_n == GW_CHAN_HIST) {
    memmove(c->h_req, c->h_req + 1, (GW_CHAN_HIST - 1) * sizeof *c->h_req);
    memmove(c->h_err, c->h_err + 1, (GW_CHAN_HIST - 1) * sizeof *c->h_err);
    memmove(c->h_t, c->h_t + 1, (GW_CHAN_HIST - 1) * sizeof *c->h_t);
    c->h_n--;
  }
  if (c->h_n > 0 && c->requests < c->h_req[c->h_n - 1])
    c->h_n = 0;                         /* relayd restarted: counters began again */
  c->h_req[c->h_n] = c->requests;
  c->h_err[c->h_n] = c->errors;
  c->h_t[c->h_n] = t;
  c->h_n++;
  size_t n = c->h_n, k = n > 5 ? n - 5 : 0;
  double dt = c->h_t[n - 1] - c->h_t[k];
  c->rps = n > 1 && dt > 0 ? (double)(c->h_req[n - 1] - c->h_req[k]) / dt : 0;
  int64_t dreq = c->h_req[n - 1] - c->h_req[0], derr = c->h_err[n - 1] - c->h_err[0];
  if (n > 1 && dreq > 0)
    c->err_pct = 100.0 * (double)derr / (double)dreq;
  else if (n <= 1 && c->requests > 0)
    c->err_pct = 100.0 * (double)c->errors / (double)c->requests;
  else
    c->err_pct = -1;
}

static void apply_stats(struct gw_data *d, const cJSON *r, double now)
{
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(r, "channels"), *o;
  for (size_t i = 0; i < d->nchans; i++)
    d->chans[i].in_stats = 0;
  cJSON_ArrayForEach(o, arr) {
    struct gw_channel *c = channel_get(d, (int64_t)num(o, "id"));
    if (!c)
      continue;
    c->in_stats = 1;
    if (!c->in_db || !c->name[0])
      copy_str(c->name, sizeof c->name, str(o, "name"));
    c->requests = (int64_t)num(o, "requests");
    c->errors = (int64_t)num(o, "errors");
    c->prompt_tokens = (int64_t)num(o, "prompt_tokens");
    c->completion_tokens = (int64_t)num(o, "completion_tokens");
    c->quota = (int64_t)num(o, "quota");
    c->in_flight = (int64_t)num(o, "in_flight");
    c->attempt_failures = (int64_t)num(o, "attempt_failures");
    c->rpm = (int64_t)num(o, "rpm");
    c->tpm = (int64_t)num(o, "tpm");
    c->limited_total = (int64_t)num(o, "limited_total");
    /* a key pool: its keys by index (never the key) */
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(o, "keys"), *k;
    copy_str(c->key_mode, sizeof c->key_mode, cJSON_IsArray(keys) && str(o, "key_mode") ? str(o, "key_mode") : "");
    c->nkeys = c->keys_off = 0;
    cJSON_ArrayForEach(k, keys) {
      const char *ks = str(k, "status") ? str(k, "status") : "";
      c->keys_off += strcmp(ks, "enabled") != 0;
      if (c->nkeys < GW_POOL_SHOWN) {
        struct gw_pool_key *pk = &c->keys[c->nkeys];
        pk->index = (int64_t)num(k, "index");
        pk->requests = (int64_t)num(k, "requests");
        pk->errors = (int64_t)num(k, "errors");
        pk->spend = (int64_t)num(k, "spend");
        copy_str(pk->status, sizeof pk->status, ks);
      }
      c->nkeys++;
    }
    /* live health (relayd knows an auto-disable before the database row says so) */
    const char *st = str(o, "status");
    if (st && *st)
      c->status = strcmp(st, "enabled") == 0    ? STATUS_ENABLED
                  : strcmp(st, "disabled") == 0 ? STATUS_DISABLED : STATUS_AUTO_DISABLED;
    if (c->status == STATUS_AUTO_DISABLED && str(o, "status_reason") && *str(o, "status_reason"))
      copy_str(c->reason, sizeof c->reason, str(o, "status_reason"));
    copy_str(c->breaker, sizeof c->breaker, str(o, "breaker") ? str(o, "breaker") : "");
    c->latency_ewma_ms = num(o, "latency_ewma_ms");
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(o, "latency_ms");
    c->p50_ms = num(lat, "p50");
    c->p99_ms = num(lat, "p99");
  }
  for (size_t i = 0; i < d->nchans; i++) {
    struct gw_channel *c = &d->chans[i];
    if (!c->in_stats) {
      c->requests = c->errors = c->prompt_tokens = c->completion_tokens = c->quota = 0;
      c->in_flight = 0;
      c->p50_ms = c->p99_ms = 0;
    }
    channel_sample(c, now);
  }
  d->events_dropped = (int64_t)num(r, "events_dropped");
  const cJSON *aff = cJSON_GetObjectItemCaseSensitive(r, "affinity");
  d->aff_entries = (int64_t)num(aff, "entries");
  d->aff_hits = (int64_t)num(aff, "hits");
  d->aff_misses = (int64_t)num(aff, "misses");
  channels_compact(d);
}

static void apply_status(struct gw_data *d, const cJSON *r, double now)
{
  copy_str(d->version, sizeof d->version, str(r, "version"));
  d->pid = (int64_t)num(r, "pid");
  d->uptime_s = (int64_t)num(r, "uptime_s");
  d->workers = (int64_t)num(r, "workers");
  d->in_flight = (int64_t)num(r, "in_flight");
  d->rt_sessions = (int64_t)num(r, "realtime_sessions");
  d->rt_sessions_total = (int64_t)num(r, "realtime_sessions_total");
  int64_t total = (int64_t)num(r, "requests_total");
  d->requests_total = total;
  d->snapshot_version = (int64_t)num(r, "snapshot_version");
  d->writer_backlog = (int64_t)num(r, "writer_backlog");
  d->writer_rows_total = (int64_t)num(r, "writer_rows_total");
  d->draining = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "draining"));

  if (d->have_status && d->prev_t > 0 && total >= d->prev_total && now > d->prev_t) {
    double dt = now - d->prev_t;
    d->rps = (double)(total - d->prev_total) / dt;
    d->tps = (double)d->acc_tokens / dt;
    d->spend_per_min = (double)d->acc_quota / dt * 60.0 / QUOTA_PER_USD;
    double e = d->acc_events ? 100.0 * (double)d->acc_errors / (double)d->acc_events : 0;
    ring_push(&d->h_rps, d->rps);
    ring_push(&d->h_tps, d->tps);
    ring_push(&d->h_spend, d->spend_per_min);
    ring_push(&d->h_inflight, (double)d->in_flight);
    ring_push(&d->h_err, e);
    ring_push(&d->h_nev, (double)d->acc_events);
    ring_push(&d->h_nerr, (double)d->acc_errors);
    ring_push(&d->h_nref, (double)d->acc_refused);
    /* error rate of the last minute, from events */
    size_t per_min = (size_t)(60000 / (d->refresh_ms > 0 ? d->refresh_ms : 1000));
    if (per_min < 1)
      per_min = 1;
    double nev = ring_sum(&d->h_nev, per_min);
    d->err_pct = nev > 0 ? 100.0 * ring_sum(&d->h_nerr, per_min) / nev : -1;
    d->refused_1m = (int64_t)ring_sum(&d->h_nref, per_min);
  } else {
    d->rps = d->tps = d->spend_per_min = 0;
  }
  d->acc_tokens = d->acc_quota = d->acc_events = d->acc_errors = d->acc_refused = 0;
  d->prev_total = total;
  d->prev_t = now;
  d->have_status = 1;
  if (!d->connected) {
    d->connected = 1;
    d->conn_err[0] = '\0';
    d->down_since = 0;
  }
}

/* ---- events ------------------------------------------------------------------------------------- */

static void add_event(struct gw_data *d, const cJSON *o)
{
  struct gw_event *e = &d->ev[d->ev_seq % GW_EVENTS];
  memset(e, 0, sizeof *e);
  e->seq = ++d->ev_seq;
  e->ts_ms = (int64_t)num(o, "ts_ms");
  e->channel_id = (int64_t)num(o, "channel_id");
  e->status = (int)num(o, "status");
  e->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "stream"));
  e->prompt_tokens = (int64_t)num(o, "prompt_tokens");
  e->completion_tokens = (int64_t)num(o, "completion_tokens");
  e->quota = (int64_t)num(o, "quota");
  e->elapsed_ms = num(o, "elapsed_ms");
  e->first_byte_ms = num(o, "first_byte_ms");
  copy_str(e->request_id, sizeof e->request_id, str(o, "request_id"));
  copy_str(e->model, sizeof e->model, str(o, "model"));
  copy_str(e->token, sizeof e->token, str(o, "token"));
  copy_str(e->user, sizeof e->user, str(o, "user"));
  copy_str(e->end_reason, sizeof e->end_reason, str(o, "end_reason"));
  copy_str(e->reason, sizeof e->reason, str(o, "reason"));
  copy_str(e->error, sizeof e->error, str(o, "error"));
  e->refused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "refused"));
  d->acc_refused += e->refused;
  /* a refusal is an error: 401s, 429s and a breaker's 503s raise the rate, never lower it */
  d->acc_tokens += e->prompt_tokens + e->completion_tokens;
  d->acc_quota += e->quota;
  d->acc_events++;
  if (strcmp(e->end_reason, "done") != 0)
    d->acc_errors++;
}

size_t data_event_count(const struct gw_data *d)
{
  return d->ev_seq < GW_EVENTS ? (size_t)d->ev_seq : GW_EVENTS;
}

const struct gw_event *data_event(const struct gw_data *d, uint64_t max_seq, size_t i)
{
  uint64_t top = max_seq && max_seq < d->ev_seq ? max_seq : d->ev_seq;
  if (i >= top)
    return NULL;
  uint64_t seq = top - i;
  if (d->ev_seq - seq >= GW_EVENTS)
    return NULL;                        /* overwritten */
  return &d->ev[(seq - 1) % GW_EVENTS];
}

size_t data_top(const struct gw_data *d, enum gw_top_kind kind, int window_s,
                struct gw_top_row **rows_out, double *covered_s)
{
  size_t nev = data_event_count(d), nrows = 0, tabn = 1;
  while (tabn < 2 * nev + 2)
    tabn <<= 1;
  struct gw_top_row *rows = calloc(nev + 1, sizeof *rows);
  size_t *tab = calloc(tabn, sizeof *tab);      /* row index + 1, 0 = empty */
  int64_t now_ms = now_unix_ms(), since = now_ms - (int64_t)window_s * 1000, oldest = now_ms;
  *rows_out = rows;
  *covered_s = 0;
  if (!rows || !tab) {
    free(tab);
    return 0;
  }
  for (size_t i = 0; i < nev; i++) {
    const struct gw_event *e = data_event(d, 0, i);
    if (!e || e->ts_ms < since)
      break;
    oldest = e->ts_ms;
    const char *key = kind == GW_TOP_MODEL ? e->model : kind == GW_TOP_USER ? e->user : e->token;
    const char *user = kind == GW_TOP_TOKEN ? e->user : "";
    if (!key[0])        /* refused before the key or the model was known: one row for them */
      key = kind == GW_TOP_MODEL ? "(no model)" : "(no valid key)";
    uint64_t h = hash_bytes(key, strlen(key)) ^ (hash_bytes(user, strlen(user)) * 31);
    size_t slot = h & (tabn - 1);
    struct gw_top_row *r = NULL;
    while (tab[slot]) {
      struct gw_top_row *c = &rows[tab[slot] - 1];
      if (strcmp(c->key, key) == 0 && strcmp(c->user, user) == 0) {
        r = c;
        break;
      }
      slot = (slot + 1) & (tabn - 1);
    }
    if (!r) {
      r = &rows[nrows++];
      tab[slot] = nrows;
      copy_str(r->key, sizeof r->key, key);
      copy_str(r->user, sizeof r->user, user);
    }
    r->requests++;
    if (strcmp(e->end_reason, "done") != 0)
      r->errors++;
    r->tokens += e->prompt_tokens + e->completion_tokens;
    r->quota += e->quota;
  }
  free(tab);
  *covered_s = (double)(now_ms - oldest) / 1000.0;
  return nrows;
}

/* ---- connections -------------------------------------------------------------------------------- */

static void conn_close(struct gw_conn *c)
{
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->state = GW_DOWN;
  c->inlen = 0;
  c->nwant = 0;
}

static void went_down(struct gw_data *d, const char *why)
{
  conn_close(&d->poll);
  conn_close(&d->sub);
  if (d->connected || !d->conn_err[0] || strcmp(d->conn_err, why) != 0) {
    copy_str(d->conn_err, sizeof d->conn_err, why);
    d->gen++;
  }
  if (d->connected || d->down_since == 0)
    d->down_since = mono_now();
  d->connected = 0;
  d->have_status = 0;
  d->err_pct = -1;
  d->in_flight = 0;
  d->rt_sessions = 0;
  d->rps = d->tps = d->spend_per_min = 0;
}

static int conn_open(struct gw_data *d, struct gw_conn *c)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  char why[300];
  if (!d->socket_path || !*d->socket_path) {
    copy_str(d->conn_err, sizeof d->conn_err, _("no admin socket: give --socket PATH or set RELAY_SOCKET"));
    return -1;
  }
  if (strlen(d->socket_path) >= sizeof sa.sun_path) {
    copy_str(d->conn_err, sizeof d->conn_err, _("admin socket path too long"));
    return -1;
  }
  memcpy(sa.sun_path, d->socket_path, strlen(d->socket_path) + 1);
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    snprintf(why, sizeof why, "%s: %s", d->socket_path, strerror(errno));
    if (strcmp(why, d->conn_err) != 0) {
      copy_str(d->conn_err, sizeof d->conn_err, why);
      d->gen++;
    }
    conn_close(c);
    return -1;
  }
  c->state = GW_GREETING;
  c->inlen = 0;
  c->nwant = 0;
  return 0;
}

static int conn_send(struct gw_conn *c, const char *line, char kind)
{
  size_t len = strlen(line);
  if (c->nwant >= sizeof c->want)
    return -1;
  ssize_t n = send(c->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n != (ssize_t)len)
    return -1;          /* a short line into an idle socket goes whole or the peer is gone */
  if (c->nwant == 0)
    c->asked_at = mono_now();
  c->want[c->nwant++] = kind;
  return 0;
}

static int ask_poll(struct gw_data *d)
{
  if (conn_send(&d->poll, "{\"cmd\":\"status\"}\n", 's') != 0
      || conn_send(&d->poll, "{\"cmd\":\"stats\"}\n", 't') != 0) {
    went_down(d, _("relayd closed the admin connection"));
    return -1;
  }
  return 0;
}

/* One whole line from connection c. Returns -1 when the connection must be dropped. */
static int on_line(struct gw_data *d, struct gw_conn *c, const char *line)
{
  cJSON *o = cJSON_Parse(line);
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    went_down(d, _("relayd sent a line that is not JSON"));
    return -1;
  }
  double now = mono_now();
  int rc = 0;
  if (c->state == GW_GREETING) {
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (err) {
      char why[256];
      snprintf(why, sizeof why, _("relayd refused the connection: %s"), str(err, "message"));
      went_down(d, why);
      rc = -1;
    } else if ((int)num(o, "relay_admin") != 1) {
      went_down(d, _("relayd speaks an admin protocol version gwtui does not know"));
      rc = -1;
    } else {
      c->state = GW_READY;
      if (c->subscribe) {
        if (conn_send(c, "{\"cmd\":\"subscribe\"}\n", 'b') != 0) {
          conn_close(c);
          rc = -1;
        }
      } else {
        rc = ask_poll(d);
      }
    }
  } else if (cJSON_GetObjectItemCaseSensitive(o, "event")) {
    if (strcmp(str(o, "event"), "request") == 0)
      add_event(d, o);
  } else if (c->nwant > 0) {
    char kind = c->want[0];
    memmove(c->want, c->want + 1, --c->nwant);
    c->asked_at = now;
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
      const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
      snprintf(d->conn_err, sizeof d->conn_err, "relayd: %s", str(e, "message"));
    } else if (kind == 's') {
      apply_status(d, o, now);
    } else if (kind == 't') {
      apply_stats(d, o, now);
    }
  }
  cJSON_Delete(o);
  d->gen++;
  return rc;
}

static void conn_read(struct gw_data *d, struct gw_conn *c)
{
  for (;;) {
    if (c->incap - c->inlen < 4096) {
      size_t n = c->incap ? c->incap * 2 : 8192;
      if (n > LINE_MAX_BYTES * 2)
        n = LINE_MAX_BYTES * 2;
      if (n - c->inlen < 1024) {
        went_down(d, _("relayd sent a line longer than 16 MiB"));
        return;
      }
      char *p = realloc(c->in, n);
      if (!p) {
        went_down(d, _("out of memory"));
        return;
      }
      c->in = p;
      c->incap = n;
    }
    ssize_t n = read(c->fd, c->in + c->inlen, c->incap - c->inlen - 1);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (c == &d->sub && d->poll.state == GW_READY) {
        conn_close(c);                  /* the event stream alone went away: reopened at the tick */
        return;
      }
      went_down(d, n == 0 ? _("relayd closed the admin connection") : strerror(errno));
      return;
    }
    c->inlen += (size_t)n;
    c->in[c->inlen] = '\0';
    char *start = c->in, *nl;
    while ((nl = memchr(start, '\n', c->inlen - (size_t)(start - c->in)))) {
      *nl = '\0';
      if (on_line(d, c, start) != 0 || c->fd < 0)
        return;
      start = nl + 1;
    }
    c->inlen -= (size_t)(start - c->in);
    memmove(c->in, start, c->inlen);
  }
}

/* ---- database ----------------------------------------------------------------------------------- */

static void db_fail(struct gw_data *d, const char *msg)
{
  if (strcmp(d->db_err, msg) != 0) {
    copy_str(d->db_err, sizeof d->db_err, msg);
    d->gen++;
  }
  if (d->db) {
    db_close(d->db);
    d->db = NULL;
  }
}

static void db_read(struct gw_data *d)
{
  char err[256];
  d->db_read_at = mono_now();
  d->db_dirty = 0;
  if (!d->db) {
    /* read only: never create the file (db_open would) */
    if (strncmp(d->db_url, "sqlite:", 7) == 0) {
      struct stat sb;
      if (stat(d->db_url + 7, &sb) != 0) {
        snprintf(err, sizeof err, "%s: %s", d->db_url + 7, strerror(errno));
        db_fail(d, err);
        return;
      }
    }
    d->db = db_open(d->db_url, err, sizeof err);
    if (!d->db) {
      db_fail(d, err);
      return;
    }
  }
  struct db_stmt *st = db_prepare(d->db,
      "SELECT id, name, status, priority, weight, test_time, response_time, type, tag, models, "
      "status_reason, COALESCE(b.balance, 0), COALESCE(b.currency, ''), COALESCE(b.updated_time, 0) "
      "FROM channels LEFT JOIN channel_balances b ON b.channel_id = channels.id ORDER BY id");
  if (!st) {
    db_fail(d, db_errmsg(d->db));
    return;
  }
  for (size_t i = 0; i < d->nchans; i++)
    d->chans[i].in_db = 0;
  enum db_step_result r;
  while ((r = db_step(st)) == DB_ROW) {
    struct gw_channel *c = channel_get(d, db_col_int64(st, 0));
    if (!c)
      break;
    c->in_db = 1;
    copy_str(c->name, sizeof c->name, db_col_text(st, 1));
    c->status = (int)db_col_int64(st, 2);
    c->priority = db_col_int64(st, 3);
    c->weight = db_col_int64(st, 4);
    c->test_time = db_col_int64(st, 5);
    c->response_time = db_col_int64(st, 6);
    copy_str(c->type, sizeof c->type, db_col_text(st, 7));
    copy_str(c->tag, sizeof c->tag, db_col_text(st, 8));
    copy_str(c->models, sizeof c->models, db_col_text(st, 9));
    copy_str(c->reason, sizeof c->reason, c->status == STATUS_AUTO_DISABLED ? db_col_text(st, 10) : "");
    c->balance = db_col_double(st, 11);
    copy_str(c->balance_cur, sizeof c->balance_cur, db_col_text(st, 12));
    c->balance_time = db_col_int64(st, 13);
  }
  db_finalize(st);
  if (r == DB_ERROR) {
    db_fail(d, db_errmsg(d->db));
    return;
  }
  d->db_err[0] = '\0';
  channels_compact(d);
  d->gen++;
}

/* ---- the loop's side ---------------------------------------------------------------------------- */

void data_init(struct gw_data *d, const char *socket_path, const char *db_url, int refresh_ms)
{
  memset(d, 0, sizeof *d);
  d->socket_path = socket_path;
  d->db_url = db_url && *db_url ? db_url : NULL;
  d->refresh_ms = refresh_ms;
  d->poll.fd = d->sub.fd = -1;
  d->sub.subscribe = 1;
  d->ev = calloc(GW_EVENTS, sizeof *d->ev);
  copy_str(d->conn_err, sizeof d->conn_err, _("connecting"));
  d->down_since = mono_now();
  d->db_dirty = d->db_url != NULL;
  d->err_pct = -1;
}

void data_free(struct gw_data *d)
{
  conn_close(&d->poll);
  conn_close(&d->sub);
  free(d->poll.in);
  free(d->sub.in);
  free(d->ev);
  free(d->chans);
  if (d->db)
    db_close(d->db);
  memset(d, 0, sizeof *d);
}

int data_pollfds(struct gw_data *d, struct pollfd *pfd)
{
  int n = 0;
  if (d->poll.fd >= 0)
    pfd[n++] = (struct pollfd){ .fd = d->poll.fd, .events = POLLIN };
  if (d->sub.fd >= 0)
    pfd[n++] = (struct pollfd){ .fd = d->sub.fd, .events = POLLIN };
  return n;
}

void data_handle(struct gw_data *d, const struct pollfd *pfd, int n)
{
  for (int i = 0; i < n; i++) {
    if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    /* the earlier fd may have closed both connections: look each up again */
    if (pfd[i].fd == d->poll.fd)
      conn_read(d, &d->poll);
    else if (pfd[i].fd == d->sub.fd)
      conn_read(d, &d->sub);
  }
}

int data_timeout_ms(const struct gw_data *d)
{
  double left = d->next_tick - mono_now();
  if (left <= 0)
    return 0;
  return (int)(left * 1000.0) + 1;
}

void data_tick(struct gw_data *d)
{
  double now = mono_now();
  if (now < d->next_tick)
    return;
  double period = (double)d->refresh_ms / 1000.0;
  if (d->poll.state == GW_DOWN && period > RETRY_S)
    period = RETRY_S;
  d->next_tick = d->next_tick > 0 && now - d->next_tick < period ? d->next_tick + period : now + period;

  if (d->poll.state == GW_DOWN) {
    if (d->connected)
      went_down(d, _("relayd closed the admin connection"));
    if (conn_open(d, &d->poll) == 0)
      conn_open(d, &d->sub);
    else {
      /* keep the timeline moving while relayd is away */
      ring_push(&d->h_rps, 0);
      ring_push(&d->h_tps, 0);
      ring_push(&d->h_spend, 0);
      ring_push(&d->h_inflight, 0);
      ring_push(&d->h_err, 0);
      d->gen++;
    }
  } else if (d->poll.state == GW_READY) {
    if (d->poll.nwant == 0)
      ask_poll(d);
    else if (now - d->poll.asked_at > ANSWER_TIMEOUT_S)
      went_down(d, _("relayd did not answer for 35 s"));
    if (d->poll.state == GW_READY && d->sub.state == GW_DOWN)
      conn_open(d, &d->sub);
  } else if (now - d->down_since > ANSWER_TIMEOUT_S && d->poll.state == GW_GREETING) {
    went_down(d, _("relayd did not greet"));
  }

  if (d->db_url && (d->db_dirty || now - d->db_read_at >= DB_PERIOD_S))
    db_read(d);
}

void data_db_refresh(struct gw_data *d)
{
  if (d->db_url) {
    d->db_dirty = 1;
    d->next_tick = 0;                   /* tick now */
  }
}
