/* vertex: see vertex.h. */
#include "vertex.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bgthread.h"
#include "gcpauth.h"
#include "log.h"
#include "util.h"
#include "vertexapi.h"

#define TICK_MS 250
#define FETCH_TIMEOUT_S 10L
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define MARGIN_MAX_MS 300000       /* refresh at most 5 minutes before expiry... */
#define MARGIN_MIN_MS 500          /* ... and at least half a second before */

struct vertex_chan {
  int64_t id;
  unsigned char digest[32];        /* of key and other: a change replaces the state (admin thread) */
  bool loaded;                     /* digest and the state below set once (admin thread) */
  struct vertex_chan *next;        /* the table (under table_lock) */
  atomic_int active;               /* snapshots naming the channel, not disabled: its token is kept fresh */
  pthread_mutex_t lock;
  /* ---- under lock ---- */
  struct gcp_sa sa;                /* the parsed key (sa.pkey owned), when sa_ok */
  bool sa_ok;
  uint64_t gen;                    /* bumped by each key change: a fetch for an older key is dropped */
  char project[VERTEX_NAME_MAX + 1], region[VERTEX_NAME_MAX + 1];
  char token[GCP_TOKEN_MAX];       /* "" = none */
  int64_t exp_ms, refresh_ms;      /* unix ms: the token's end, and when to fetch the next one */
  int64_t next_try_ms, backoff_ms; /* after a failed fetch */
  int refused;                     /* HTTP status of the token endpoint's last refusal of the key, or 0 */
  char why[400];                   /* why there is no token: the key's problem, the last failure */
};

static struct vertex_chan *table;  /* entries are added (admin thread), never removed before vertex_free_all */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static struct bgthread T = BGTHREAD_INIT;

/* Whether model goes to Claude on Vertex (the anthropic publisher) rather than Gemini. */
static bool vertex_is_claude(const char *model)
{
  const char *name;
  return vertex_publisher(model, &name) == VERTEX_ANTHROPIC;
}

static void digest_of(const char *key, const char *other, unsigned char out[32])
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned int n = 32;
  memset(out, 0, 32);
  if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, key, strlen(key) + 1) == 1 &&
      EVP_DigestUpdate(md, other, strlen(other)) == 1)
    EVP_DigestFinal_ex(md, out, &n);
  EVP_MD_CTX_free(md);
}

void vertex_unload(struct vertex_chan *v, bool active)
{
  if (active)
    atomic_fetch_sub(&v->active, 1);
}

/* Wakes the refresher thread for a pass over the table now. */
static void kick_refresher(void)
{
  bgthread_kick(&T);
}

struct vertex_chan *vertex_load(int64_t channel_id, const char *key, const char *other, bool active)
{
  unsigned char d[32];
  key = key ? key : "";
  other = other ? other : "";
  digest_of(key, other, d);
  pthread_mutex_lock(&table_lock);
  struct vertex_chan *v = table;
  while (v && v->id != channel_id)
    v = v->next;
  if (!v) {
    v = calloc(1, sizeof *v);
    if (!v)
      abort();
    v->id = channel_id;
    pthread_mutex_init(&v->lock, NULL);
    v->next = table;
    table = v;
  }
  if (active)
    atomic_fetch_add(&v->active, 1);
  pthread_mutex_unlock(&table_lock);
  /* digest and loaded are the admin thread's alone (vertex_load's only caller) */
  if (v->loaded && memcmp(v->digest, d, sizeof d) == 0) {
    if (active)                     /* the same key: the token stays; a sleeping refresher (no */
      kick_refresher();             /* live Vertex channel before) watches it again */
    return v;
  }
  v->loaded = true;
  memcpy(v->digest, d, sizeof d);
  struct gcp_sa sa;
  char err[300] = "";
  int ok = gcp_sa_parse(key, &sa, err, sizeof err) == 0;
  char region[VERTEX_NAME_MAX + 1], project[VERTEX_NAME_MAX + 1];
  vertex_other(other, region, sizeof region, project, sizeof project);
  pthread_mutex_lock(&v->lock);
  gcp_sa_free(&v->sa);
  v->sa = sa;                       /* owned now (pkey NULL when the key could not be read) */
  v->sa_ok = ok;
  v->gen++;
  snprintf(v->region, sizeof v->region, "%s", *region ? region : VERTEX_DEFAULT_REGION);
  const char *proj = *project ? project : ok && vertex_name_ok(sa.project_id) ? sa.project_id : "";
  snprintf(v->project, sizeof v->project, "%.*s", VERTEX_NAME_MAX, proj);   /* checked: it fits */
  OPENSSL_cleanse(v->token, sizeof v->token);
  v->token[0] = '\0';
  v->exp_ms = v->refresh_ms = v->next_try_ms = v->backoff_ms = 0;
  v->refused = 0;
  if (ok)
    snprintf(v->why, sizeof v->why, "its access token is being fetched");
  else
    snprintf(v->why, sizeof v->why, "its service-account key cannot be used: %s", err);
  pthread_mutex_unlock(&v->lock);
  if (!ok)
    log_msg(LOG_WARN, "vertex channel key unusable", "channel_id=%lld error=\"%s\"", (long long)channel_id, err);
  kick_refresher();
  return v;
}

/* ---------------------------------------------------------------- the refresher */

static void refresh_one(struct vertex_chan *v)
{
  int64_t now = now_unix_ms();
  struct gcp_sa sa;
  memset(&sa, 0, sizeof sa);
  pthread_mutex_lock(&v->lock);
  bool due = v->sa_ok && now >= v->next_try_ms && (!v->token[0] || now >= v->refresh_ms);
  uint64_t gen = v->gen;
  if (due) {
    sa = v->sa;                      /* a copy sharing the key: one more reference to it */
    if (EVP_PKEY_up_ref(sa.pkey) != 1)
      due = false;
  }
  pthread_mutex_unlock(&v->lock);
  if (!due)
    return;
  char token[GCP_TOKEN_MAX], err[400] = "";
  int64_t expires_in = 0;
  int rc = gcp_fetch_token(&sa, FETCH_TIMEOUT_S, token, sizeof token, &expires_in, err, sizeof err);
  gcp_sa_free(&sa);
  now = now_unix_ms();
  pthread_mutex_lock(&v->lock);
  if (v->gen == gen) {
    if (rc == 0) {
      int64_t life = expires_in * 1000, margin = life / 3;
      margin = margin > MARGIN_MAX_MS ? MARGIN_MAX_MS : margin < MARGIN_MIN_MS ? MARGIN_MIN_MS : margin;
      memcpy(v->token, token, strlen(token) + 1);
      v->exp_ms = now + life;
      v->refresh_ms = v->exp_ms - margin;
      v->backoff_ms = v->next_try_ms = 0;
      v->refused = 0;
      v->why[0] = '\0';
    } else {
      v->backoff_ms = v->backoff_ms ? v->backoff_ms * 2 : BACKOFF_FIRST_MS;
      if (v->backoff_ms > BACKOFF_MAX_MS)
        v->backoff_ms = BACKOFF_MAX_MS;
      v->next_try_ms = now + v->backoff_ms;
      /* a 4xx (but 429) is the key's problem: invalid_grant, a deleted or disabled account */
      v->refused = rc >= 400 && rc < 500 && rc != 429 ? rc : 0;
      snprintf(v->why, sizeof v->why, "%s", err);
    }
  }
  pthread_mutex_unlock(&v->lock);
  OPENSSL_cleanse(token, sizeof token);
  if (rc == 0)
    log_msg(LOG_INFO, "vertex access token fetched", "channel_id=%lld expires_in=%lld", (long long)v->id,
            (long long)expires_in);
  else
    log_msg(LOG_WARN, "vertex access token not fetched", "channel_id=%lld status=%d error=\"%s\"", (long long)v->id,
            rc, err);
}

/* More than 256 channels want tokens: the first ones go to the end, so every one gets its turn. */
static void rotate_table(void)
{
  pthread_mutex_lock(&table_lock);
  struct vertex_chan *head = table, *tail = table;
  for (size_t i = 0; i < 255 && tail && tail->next; i++)
    tail = tail->next;
  if (tail && tail->next) {
    struct vertex_chan *last = tail->next;
    while (last->next)
      last = last->next;
    table = tail->next;
    tail->next = NULL;
    last->next = head;
  }
  pthread_mutex_unlock(&table_lock);
}

static void *refresher_main(void *arg)
{
  (void)arg;
  bool any = false;          /* some live snapshot names a Vertex channel (the last pass saw one) */
  for (;;) {
    /* no Vertex channel: sleep until vertex_load (a snapshot naming one) kicks, or vertex_stop */
    pthread_mutex_lock(&T.lock);
    bool stop = bgthread_wait(&T, any ? (uint64_t)TICK_MS * 1000u : BGTHREAD_FOREVER);
    pthread_mutex_unlock(&T.lock);
    if (stop)
      break;
    /* the channels a live snapshot names, but for an administrator's disabled ones (an
     * auto-disabled one needs its token: its tests) */
    struct vertex_chan *due[256];
    size_t n = 0;
    bool more = false;
    pthread_mutex_lock(&table_lock);
    for (struct vertex_chan *v = table; v; v = v->next)
      if (atomic_load(&v->active) > 0) {
        if (n < sizeof due / sizeof due[0])
          due[n++] = v;
        else
          more = true;
      }
    pthread_mutex_unlock(&table_lock);
    any = n > 0;
    for (size_t i = 0; i < n; i++)
      refresh_one(due[i]);
    if (more)
      rotate_table();
  }
  return NULL;
}

int vertex_start(char *err, size_t errlen)
{
  if (bgthread_start(&T, "relayd-vertex", refresher_main, NULL) != 0) {
    snprintf(err, errlen, "vertex: cannot start the token thread");
    return -1;
  }
  return 0;
}

void vertex_stop(void)
{
  bgthread_stop(&T);
}

void vertex_free_all(void)
{
  while (table) {
    struct vertex_chan *v = table;
    table = v->next;
    gcp_sa_free(&v->sa);
    OPENSSL_cleanse(v->token, sizeof v->token);
    pthread_mutex_destroy(&v->lock);
    free(v);
  }
}

/* ---------------------------------------------------------------- requests */

/* The token, project and region of v now: 0, or with the reason in err 401 (the key was refused or
 * cannot be used), 502 (the last fetch failed: the token endpoint is down or answered nonsense) or
 * 503 (the first fetch is under way). */
static int current(struct vertex_chan *v, char *token, size_t toklen, char *project, char *region, char *err,
                   size_t errlen)
{
  int64_t now = now_unix_ms();
  int rc;
  pthread_mutex_lock(&v->lock);
  snprintf(project, VERTEX_NAME_MAX + 1, "%s", v->project);
  snprintf(region, VERTEX_NAME_MAX + 1, "%s", v->region);
  if (v->token[0] && now < v->exp_ms && strlen(v->token) < toklen) {
    memcpy(token, v->token, strlen(v->token) + 1);
    rc = 0;
  } else if (!v->sa_ok || v->refused) {
    snprintf(err, errlen, "Vertex AI channel %lld has no access token: %s", (long long)v->id, v->why);
    rc = 401;
  } else if (v->backoff_ms) {
    snprintf(err, errlen, "Vertex AI channel %lld has no access token: %s", (long long)v->id, v->why);
    rc = 502;
  } else {
    snprintf(err, errlen, "Vertex AI channel %lld has no access token yet: %s", (long long)v->id, v->why);
    rc = 503;
  }
  pthread_mutex_unlock(&v->lock);
  return rc;
}

/* chan plus "Authorization: Bearer token": a new list, or NULL. */
static struct curl_slist *with_token(const struct curl_slist *chan, const char *token)
{
  char line[GCP_TOKEN_MAX + 32];
  struct curl_slist *out = NULL, *n;
  snprintf(line, sizeof line, "Authorization: Bearer %s", token);
  for (const struct curl_slist *h = chan; h; h = h->next) {
    if (!(n = curl_slist_append(out, h->data)))
      goto oom;
    out = n;
  }
  if (!(n = curl_slist_append(out, line)))
    goto oom;
  OPENSSL_cleanse(line, sizeof line);
  return n;
oom:
  OPENSSL_cleanse(line, sizeof line);
  curl_slist_free_all(out);
  return NULL;
}

static int prepare(struct vertex_chan *v, const char *base, const struct curl_slist *chan, const char *model,
                   bool stream, char *url, size_t urllen, struct curl_slist **headers, char *err, size_t errlen)
{
  char token[GCP_TOKEN_MAX], project[VERTEX_NAME_MAX + 1], region[VERTEX_NAME_MAX + 1];
  int rc = current(v, token, sizeof token, project, region, err, errlen);
  if (rc == 0 && vertex_url(base, project, region, model, stream, url, urllen, err, errlen) < 0)
    rc = -1;
  if (rc == 0 && !(*headers = with_token(chan, token))) {
    snprintf(err, errlen, "out of memory");
    rc = -1;
  }
  OPENSSL_cleanse(token, sizeof token);
  return rc;
}

int vertex_attempt(struct vertex_chan *v, const char *base, const struct curl_slist *chan, const char *model,
                   bool stream, char **body, size_t *len, const char *plain, size_t plain_len, char *url,
                   size_t urllen, struct curl_slist **headers, char *err, size_t errlen)
{
  *headers = NULL;
  if (vertex_is_claude(model)) {
    size_t n = 0;
    char *fixed = vertex_claude_body(*body ? *body : plain, *body ? *len : plain_len, &n, err, errlen);
    if (!fixed)
      return -1;
    free(*body);
    /* cJSON_free is free with relay's default hooks: the attempt frees up_body with free() */
    *body = fixed;
    *len = n;
  }
  return prepare(v, base, chan, model, stream, url, urllen, headers, err, errlen);
}

int vertex_probe(struct vertex_chan *v, const char *base, const struct curl_slist *chan, const char *model,
                 char *url, size_t urllen, char **body, struct curl_slist **headers, char *err, size_t errlen)
{
  *body = NULL;
  *headers = NULL;
  int rc = prepare(v, base, chan, model, false, url, urllen, headers, err, errlen);
  if (rc != 0)
    return rc;
  if (!(*body = vertex_probe_body(model, err, errlen))) {
    curl_slist_free_all(*headers);
    *headers = NULL;
    return -1;
  }
  return 0;
}
