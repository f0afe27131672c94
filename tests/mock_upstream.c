/*
 * mock-upstream: an event-driven mock of an OpenAI-compatible upstream, for relay's tests and
 * benchmarks.
 *
 * Design: libmicrohttpd in epoll internal-thread mode (optionally a thread pool) with
 * suspend/resume, plus ONE timer thread holding a min-heap of (deadline, connection). A handler or
 * content reader that must wait (delay_ms, first_byte_ms, chunk_gap_ms) suspends its connection and
 * pushes a deadline; the timer thread resumes it when due. Nothing sleeps and there is no thread
 * per request, so thousands of slow streams cost only memory.
 *
 * Endpoints: POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings,
 * GET /v1/models, GET /v1/models/{id}, GET /__mock/requests, POST /__mock/reset; in other APIs'
 * shapes: POST /v1/messages and /v1/messages/count_tokens (Anthropic), POST
 * /v1beta/models/{model}:generateContent, :streamGenerateContent, :countTokens, :embedContent and
 * :batchEmbedContents (Gemini), POST /openai/deployments/{deployment}/chat/completions (Azure),
 * POST /model/{model-id}/invoke and /invoke-with-response-stream (AWS Bedrock: the SigV4 signature
 * checked as AWS computes it, the stream in AWS's binary event-stream framing; section "AWS Bedrock");
 * the media endpoints (section "media endpoints" below): POST /v1/responses (stream too),
 * /v1/images/generations, /v1/images/edits (multipart), /v1/audio/speech (audio bytes),
 * /v1/audio/transcriptions and /v1/audio/translations (multipart), /v1/moderations, /v1/rerank
 * (Cohere or Jina shape), also under Azure's /openai/deployments/{d}/... and /openai/responses.
 * Behaviour comes from CLI defaults, overridden per request by a top-level "mock" object in the
 * JSON body, overridden in turn by the X-Mock request header (same JSON). See usage() for keys.
 * Google Vertex AI (section "vertex"): POST /token is an OAuth 2.0 token endpoint for service-account
 * keys (--gcp-public-key PEM: the JWT's RS256 signature and claims are verified the way Google does,
 * then an access token lasting --gcp-token-ttl seconds is issued); POST /v1/projects/P/locations/R/
 * publishers/google/models/M:generateContent | :streamGenerateContent?alt=sse (Gemini's answers) and
 * .../publishers/anthropic/models/M:rawPredict | :streamRawPredict (Anthropic's; the body must have
 * no "model" and anthropic_version "vertex-2023-10-16") need "Authorization: Bearer" with a token
 * it issued that has not expired.
 * The "replay" key (section "replay") answers any endpoint with a file's bytes as they are: the
 * recorded provider output (a real API's SSE or JSON body), sent whole, in pieces, or cut short.
 *
 * Every request except the /__mock/ ones is recorded: one JSON line appended (and flushed) to --record FILE,
 * and kept in memory (last --record-limit lines) for GET /__mock/requests.
 */
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <zlib.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BODY_LIMIT ((size_t)8 << 20)   /* request bodies above this get 413 */
#define REPLAY_LIMIT ((long)8 << 20)   /* mock.replay refuses files above this */
#define MAX_WAIT_MS 3600000L           /* any single wait is capped at one hour */
#define MAX_CHUNKS 1000000L
#define MAX_EMBED_DIMS 4096L
#define EMBED_DIMS 8
/* Per-connection pool (headers, read buffer, response block). 16 KiB instead of MHD's 32 KiB
 * default halves the RSS of 10,000 open streams (~235 MB) and keeps them faster. */
#define CONN_MEMORY 16384
#define STREAM_BLOCK 4096

/* ------------------------------------------------------------------------------------------ */
/* small utilities                                                                              */

static void die(const char *what)
{
  fprintf(stderr, "mock-upstream: %s\n", what);
  exit(2);
}

static void *xrealloc(void *p, size_t n)
{
  void *q = realloc(p, n ? n : 1);
  if (!q) die("out of memory");
  return q;
}

static void *xcalloc(size_t n, size_t sz)
{
  void *p = calloc(n ? n : 1, sz ? sz : 1);
  if (!p) die("out of memory");
  return p;
}

static char *xstrdup(const char *s)
{
  size_t n = strlen(s) + 1;
  char *p = xrealloc(NULL, n);
  memcpy(p, s, n);
  return p;
}

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Growable string buffer; p is NUL-terminated whenever non-NULL. Aborts on out of memory. */
struct sbuf {
  char *p;
  size_t len, cap;
};

static void sb_reserve(struct sbuf *b, size_t extra)
{
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return;
  size_t ncap = b->cap ? b->cap * 2 : 256;
  while (ncap < need) ncap *= 2;
  b->p = xrealloc(b->p, ncap);
  b->cap = ncap;
}

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
  sb_reserve(b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

__attribute__((format(printf, 2, 0))) static void sb_vprintf(struct sbuf *b, const char *fmt,
                                                             va_list ap0)
{
  va_list ap;
  sb_reserve(b, 128);
  va_copy(ap, ap0);
  int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  if (n < 0) die("vsnprintf failed");
  if ((size_t)n >= b->cap - b->len) {
    sb_reserve(b, (size_t)n);
    va_copy(ap, ap0);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) die("vsnprintf failed");
  }
  b->len += (size_t)n;
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(b, fmt, ap);
  va_end(ap);
}

/* Appends s as a JSON string literal; lower = also lowercase ASCII letters. */
static void sb_json_str2(struct sbuf *b, const char *s, bool lower)
{
  static const char hex[] = "0123456789abcdef";
  sb_reserve(b, strlen(s) + 2);
  sb_put(b, "\"", 1);
  for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
    unsigned char c = *q;
    char esc[8];
    switch (c) {
    case '"': sb_put(b, "\\\"", 2); break;
    case '\\': sb_put(b, "\\\\", 2); break;
    case '\n': sb_put(b, "\\n", 2); break;
    case '\r': sb_put(b, "\\r", 2); break;
    case '\t': sb_put(b, "\\t", 2); break;
    default:
      if (c < 0x20 || c == 0x7f) {
        esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
        esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
        sb_put(b, esc, 6);
      } else {
        char ch = (char)(lower ? tolower(c) : c);
        sb_put(b, &ch, 1);
      }
    }
  }
  sb_put(b, "\"", 1);
}

static void sb_json_str(struct sbuf *b, const char *s) { sb_json_str2(b, s, false); }

static char *sb_steal(struct sbuf *b, size_t *len)
{
  if (!b->p) sb_reserve(b, 0), b->p[0] = '\0';
  char *p = b->p;
  if (len) *len = b->len;
  b->p = NULL;
  b->len = b->cap = 0;
  return p;
}

static void sb_free(struct sbuf *b)
{
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* configuration and behaviour                                                                  */

/* What a response should look like. CLI flags set the defaults; "mock" / X-Mock override. */
struct behaviour {
  int status;             /* 200 = normal answer; anything else = OpenAI-style error body */
  long delay_ms;          /* wait before answering at all */
  long first_byte_ms;     /* stream: send headers, then wait before the first event */
  long chunks;            /* number of content words/chunks (= completion_tokens by default) */
  long chunk_gap_ms;      /* stream: wait between events */
  bool no_usage;          /* omit usage entirely */
  bool echo_key;          /* error answers quote the key received, as real upstreams do */
  long disconnect_after;  /* stream: cut after N content chunks; non-stream: close with no answer; -1 off */
  long error_after;       /* stream: in-band error event after N content chunks; -1 off */
  long prompt_tokens;     /* -1 = computed */
  long completion_tokens; /* -1 = chunks */
  long cached_tokens;     /* Responses API: input_tokens_details.cached_tokens */
  const cJSON *headers;   /* extra response headers {name: value} (borrowed from a parsed doc) */
  long stall_after;       /* stream: after N content chunks, wait stall_ms once; -1 off */
  long stall_ms;
  bool hang_up;           /* close the connection without any answer (stream or not) */
  bool malformed;         /* stream: send broken SSE (bad JSON, a field-less line) first */
  long huge_event;        /* stream: first send one content event of this many bytes; 0 off */
  long drip_ms;           /* stream: send the stream one byte at a time, this far apart */
  const cJSON *replay;    /* {"file",...}: answer any endpoint with a file's bytes (borrowed, like headers) */
  bool gzip;              /* the answer's body gzip-compressed (Content-Encoding: gzip), asked or not */
  const char *raw;        /* the answer's body exactly this (status from status; borrowed) */
  const char *reject_field;  /* a request naming this top-level field gets the API's 400 (borrowed) */
  const char *reject_keys;   /* comma list: a request sent with one of these keys gets the API's 401 (borrowed) */
  bool strict;            /* refuse what the real API refuses in a request (strict_refusal) */
  long bad_crc;           /* Bedrock stream: frame N (1-based) gets a wrong message CRC; 0 off */
  const cJSON *agent;     /* {"tool","args","expect","answer"}: a scripted tool round trip (agent_turn; borrowed) */
  double balance;         /* what the balance endpoints report is left (section "balances") */
};

static struct {
  const char *host;
  unsigned port;
  const char *record_path;
  const char *port_file;
  unsigned threads;
  unsigned max_conns;
  bool max_conns_set;
  long record_limit;
  bool verbose;
  struct behaviour defaults;
  char **models;
  size_t nmodels;
  char *models_json; /* prebuilt GET /v1/models body */
  const char *aws_access_key, *aws_secret, *aws_token, *aws_region;  /* Bedrock's SigV4 check */
} cfg;

static atomic_bool g_shutting;

/* POST /__mock/defaults replaces the defaults (startup flags + the posted keys); its parsed body
 * stays alive while they borrow from it (headers). */
static pthread_mutex_t defaults_mu = PTHREAD_MUTEX_INITIALIZER;
static struct behaviour startup_defaults;
static cJSON *defaults_doc;

/* ------------------------------------------------------------------------------------------ */
/* timer thread: a min-heap of deadlines, each resuming one suspended connection                */

struct timer_ent {
  uint64_t due;
  struct MHD_Connection *conn;
};

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct timer_ent *h;
  size_t n, cap;
  bool stop;
  pthread_t th;
} T = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void heap_swap(size_t a, size_t b)
{
  struct timer_ent t = T.h[a];
  T.h[a] = T.h[b];
  T.h[b] = t;
}

static void heap_push(struct timer_ent e)
{
  if (T.n == T.cap) {
    T.cap = T.cap ? T.cap * 2 : 1024;
    T.h = xrealloc(T.h, T.cap * sizeof *T.h);
  }
  size_t i = T.n++;
  T.h[i] = e;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (T.h[parent].due <= T.h[i].due) break;
    heap_swap(parent, i);
    i = parent;
  }
}

static struct timer_ent heap_pop(void)
{
  struct timer_ent top = T.h[0];
  T.h[0] = T.h[--T.n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < T.n && T.h[l].due < T.h[m].due) m = l;
    if (r < T.n && T.h[r].due < T.h[m].due) m = r;
    if (m == i) break;
    heap_swap(i, m);
    i = m;
  }
  return top;
}

/* Must be called right after MHD_suspend_connection(conn), from the MHD thread that owns conn:
 * the connection is then surely suspended when the timer thread resumes it. */
static void timer_resume_after(struct MHD_Connection *conn, long ms)
{
  struct timer_ent e = {.due = now_ns() + (uint64_t)ms * 1000000u, .conn = conn};
  pthread_mutex_lock(&T.mu);
  if (T.stop) { /* shutting down: nobody will wake it later, so do it now */
    pthread_mutex_unlock(&T.mu);
    MHD_resume_connection(conn);
    return;
  }
  heap_push(e);
  bool new_top = T.h[0].conn == conn && T.h[0].due == e.due;
  pthread_mutex_unlock(&T.mu);
  if (new_top) pthread_cond_signal(&T.cv);
}

static void *timer_main(void *arg)
{
  (void)arg;
  struct MHD_Connection *batch[256];
  pthread_mutex_lock(&T.mu);
  while (!T.stop) {
    if (T.n == 0) {
      pthread_cond_wait(&T.cv, &T.mu);
      continue;
    }
    uint64_t now = now_ns();
    if (T.h[0].due > now) {
      struct timespec ts = {.tv_sec = (time_t)(T.h[0].due / 1000000000u),
                            .tv_nsec = (long)(T.h[0].due % 1000000000u)};
      pthread_cond_timedwait(&T.cv, &T.mu, &ts);
      continue;
    }
    size_t nb = 0;
    while (T.n > 0 && T.h[0].due <= now && nb < sizeof batch / sizeof batch[0])
      batch[nb++] = heap_pop().conn;
    pthread_mutex_unlock(&T.mu);
    for (size_t i = 0; i < nb; i++) MHD_resume_connection(batch[i]);
    pthread_mutex_lock(&T.mu);
  }
  pthread_mutex_unlock(&T.mu);
  return NULL;
}

static void timer_start(void)
{
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&T.cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&T.th, NULL, timer_main, NULL) != 0) die("cannot start the timer thread");
}

/* Stops the timer thread and resumes every connection still waiting (MHD_stop_daemon must not
 * see suspended connections). */
static void timer_stop_and_resume_all(void)
{
  pthread_mutex_lock(&T.mu);
  T.stop = true;
  pthread_mutex_unlock(&T.mu);
  pthread_cond_signal(&T.cv);
  pthread_join(T.th, NULL);
  pthread_mutex_lock(&T.mu);
  while (T.n > 0) MHD_resume_connection(heap_pop().conn);
  free(T.h);
  T.h = NULL;
  T.cap = 0;
  pthread_mutex_unlock(&T.mu);
  pthread_cond_destroy(&T.cv);
}

/* Suspends conn (must be the current connection of this MHD thread) for ms milliseconds. */
static void suspend_for(struct MHD_Connection *conn, long ms)
{
  MHD_suspend_connection(conn);
  timer_resume_after(conn, ms);
}

/* ------------------------------------------------------------------------------------------ */
/* request recording                                                                            */

static struct {
  pthread_mutex_t mu;
  FILE *file;
  char **ring; /* last cfg.record_limit lines, oldest at head */
  size_t head, count;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void record_line(char *line /* taken */)
{
  pthread_mutex_lock(&R.mu);
  if (R.file) {
    fputs(line, R.file);
    fputc('\n', R.file);
    fflush(R.file);
  }
  if (cfg.record_limit > 0) {
    size_t lim = (size_t)cfg.record_limit;
    if (R.count == lim) { /* drop the oldest */
      free(R.ring[R.head]);
      R.ring[R.head] = line;
      R.head = (R.head + 1) % lim;
    } else {
      R.ring[(R.head + R.count) % lim] = line;
      R.count++;
    }
    line = NULL;
  }
  pthread_mutex_unlock(&R.mu);
  free(line);
}

static char *record_list_json(size_t *len)
{
  struct sbuf b = {0};
  sb_puts(&b, "[");
  pthread_mutex_lock(&R.mu);
  for (size_t i = 0; i < R.count; i++) {
    if (i) sb_puts(&b, ",\n");
    sb_puts(&b, R.ring[(R.head + i) % (size_t)cfg.record_limit]);
  }
  pthread_mutex_unlock(&R.mu);
  sb_puts(&b, "]\n");
  return sb_steal(&b, len);
}

static void record_clear_locked(void)
{
  for (size_t i = 0; i < R.count; i++) free(R.ring[(R.head + i) % (size_t)cfg.record_limit]);
  R.head = R.count = 0;
}

static void record_reset(void)
{
  pthread_mutex_lock(&R.mu);
  record_clear_locked();
  if (R.file) {
    fflush(R.file);
    if (ftruncate(fileno(R.file), 0) != 0) perror("mock-upstream: truncate record file");
  }
  pthread_mutex_unlock(&R.mu);
}

struct hdr_ctx {
  struct sbuf *b;
  bool first;
};

static bool header_recorded(const char *name)
{
  return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "content-type") == 0 ||
         strncasecmp(name, "x-", 2) == 0 || strcasecmp(name, "api-key") == 0 ||
         strncasecmp(name, "anthropic-", 10) == 0 || strncasecmp(name, "openai-", 7) == 0;
}

static enum MHD_Result record_header_it(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
  (void)kind;
  struct hdr_ctx *h = cls;
  if (!key || !header_recorded(key)) return MHD_YES;
  if (!h->first) sb_puts(h->b, ",");
  h->first = false;
  sb_json_str2(h->b, key, true);
  sb_puts(h->b, ":");
  sb_json_str(h->b, value ? value : "");
  return MHD_YES;
}

static enum MHD_Result record_query_it(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
  (void)kind;
  struct hdr_ctx *h = cls;
  if (!key) return MHD_YES;
  if (!h->first) sb_puts(h->b, ",");
  h->first = false;
  sb_json_str(h->b, key);
  sb_puts(h->b, ":");
  if (value) sb_json_str(h->b, value);
  else sb_puts(h->b, "null");
  return MHD_YES;
}

/* ------------------------------------------------------------------------------------------ */
/* per-request state                                                                            */

enum route {
  RT_CHAT,
  RT_COMPLETIONS,
  RT_EMBEDDINGS,
  RT_MODELS,
  RT_MODEL_ONE,
  RT_MOCK_REQUESTS,
  RT_MOCK_RESET,
  RT_MOCK_DEFAULTS, /* POST /__mock/defaults: new default behaviour ("mock" keys) from now on */
  RT_WEBHOOK,       /* POST /webhook...: answered 200 and recorded (a webhook receiver for tests) */
  RT_MESSAGES,    /* Anthropic POST /v1/messages */
  RT_GEM_GEN,     /* Gemini POST /v1beta/models/{model}:generateContent */
  RT_GEM_STREAM,  /* Gemini POST /v1beta/models/{model}:streamGenerateContent */
  RT_AZURE_CHAT,  /* Azure POST /openai/deployments/{deployment}/chat/completions */
  RT_RESPONSES,   /* POST /v1/responses (and Azure /openai/responses) */
  RT_IMAGES_GEN,  /* POST /v1/images/generations */
  RT_IMAGES_EDIT, /* POST /v1/images/edits (multipart) */
  RT_SPEECH,      /* POST /v1/audio/speech */
  RT_TRANSCRIBE,  /* POST /v1/audio/transcriptions (multipart) */
  RT_TRANSLATE,   /* POST /v1/audio/translations (multipart) */
  RT_MODERATIONS, /* POST /v1/moderations */
  RT_RERANK,      /* POST /v1/rerank (Cohere / Jina) */
  RT_ANTH_COUNT,  /* Anthropic POST /v1/messages/count_tokens */
  RT_GEM_COUNT,   /* Gemini POST /v1beta/models/{model}:countTokens */
  RT_GEM_EMBED,   /* Gemini POST /v1beta/models/{model}:embedContent */
  RT_GEM_BATCH,   /* Gemini POST /v1beta/models/{model}:batchEmbedContents */
  RT_BEDROCK,     /* AWS Bedrock POST /model/{model-id}/invoke */
  RT_BEDROCK_STREAM, /* AWS Bedrock POST /model/{model-id}/invoke-with-response-stream */
  RT_GCP_TOKEN,   /* POST /token: Google's OAuth 2.0 token endpoint (JWT bearer grant) */
  RT_GCP_RELEASE, /* POST /__mock/gcp-release: /token answers again (--gcp-token-hold) */
  RT_BALANCE,     /* GET a provider's balance endpoint (section "balances") */
  RT_NOT_FOUND,
  RT_BAD_METHOD,
};

/* Which API's shapes (error bodies, stream events) a request gets. */
enum dialect { DL_OPENAI, DL_ANTHROPIC, DL_GEMINI, DL_BEDROCK };

static enum dialect dialect_of(enum route rt)
{
  if (rt == RT_MESSAGES || rt == RT_ANTH_COUNT) return DL_ANTHROPIC;
  if (rt == RT_GEM_GEN || rt == RT_GEM_STREAM || rt == RT_GEM_COUNT || rt == RT_GEM_EMBED || rt == RT_GEM_BATCH)
    return DL_GEMINI;
  if (rt == RT_BEDROCK || rt == RT_BEDROCK_STREAM) return DL_BEDROCK;
  return DL_OPENAI;
}

enum phase { PH_BODY, PH_DELAYING, PH_ANSWER };

/* Stream states, in order. */
enum sstate {
  SS_ROLE, SS_CONTENT, SS_USAGE, SS_DONE,                      /* OpenAI (Gemini: SS_CONTENT only) */
  SS_A_START, SS_A_BLOCK, SS_A_PING, SS_A_DELTA, SS_A_BLOCK_STOP, SS_A_MSG_DELTA, SS_A_MSG_STOP,
  SS_R_CREATED, SS_R_PROGRESS, SS_R_ITEM_ADDED, SS_R_PART_ADDED, SS_R_DELTA, SS_R_TEXT_DONE,  /* Responses */
  SS_R_PART_DONE, SS_R_ITEM_DONE, SS_R_COMPLETED,
  SS_END,
};

/* A multipart/form-data body as the mock parsed it (media endpoints). */
#define FORM_PARTS_MAX 32
struct form_part {
  char *name, *filename, *ctype;
  struct sbuf data;
};
struct form {
  struct form_part part[FORM_PARTS_MAX];
  int n;
  bool bad;           /* malformed, or more than FORM_PARTS_MAX parts */
};

struct req {
  struct MHD_Connection *conn;
  enum route route;
  bool azure;         /* came in under /openai/: needs api-key and api-version */
  bool vertex;        /* came in under /v1/projects/: Vertex AI, needs a token /token issued */
  struct form *form;  /* multipart routes: the parsed form */
  const char *ctype;  /* non-stream answer's Content-Type (static); NULL = application/json */
  long seq;           /* Responses stream: sequence_number */
  enum dialect dialect;
  enum phase phase;
  char *body;
  size_t body_len, body_cap;
  bool too_large;
  cJSON *doc;   /* parsed body (may be NULL) */
  cJSON *xmock; /* parsed X-Mock header (may be NULL) */
  cJSON *xmock_headers_copy; /* the default headers, copied (may be NULL) */
  char *raw_copy, *reject_copy; /* the default raw / reject_field, copied (may be NULL) */
  char *reject_keys_copy;       /* the default reject_keys, copied (may be NULL) */
  struct behaviour b;

  /* the prepared answer */
  int status;         /* HTTP status to send */
  char *resp;         /* non-stream body (JSON), handed to MHD */
  size_t resp_len;
  bool stream;        /* answer with SSE built by stream_reader */
  bool hang_up;       /* close the connection without any answer */

  /* stream parameters and state */
  bool chat;          /* chat.completion.chunk (else text_completion) */
  bool tool;          /* answer with a call of the first tool (tool_use, tool_calls, functionCall) */
  char *tool_name_json; /* that tool's name as a JSON string literal */
  char *tool_args;    /* the call's arguments as JSON text (owned; NULL = {"q":"x"}) */
  bool thinking;      /* Anthropic, mock.agent turn 1 with thinking on: a signed thinking block first */
  int blk;            /* Anthropic stream: the index of the block being streamed */
  char *word;         /* the text of each content chunk, JSON-escaped without quotes (owned; NULL = WORD) */
  cJSON *agent_copy;  /* the default agent object, copied (may be NULL) */
  bool include_usage; /* stream_options.include_usage */
  char *model_json;   /* the model as a JSON string literal */
  long long created;
  long prompt_tokens, completion_tokens;
  enum sstate st;
  long content_sent;  /* content events emitted */
  bool fb_pending;    /* first_byte_ms wait still to do */
  bool gap_pending;   /* chunk_gap_ms wait due before the next content event */
  bool cut;           /* close abruptly once pending bytes are out */
  bool cut_armed;     /* the suspend/resume bounce before closing was done */
  bool ended;         /* end normally once pending bytes are out */
  bool stalled;       /* the stall_after wait was done */
  bool drip_wait;     /* drip_ms: a byte went out, wait before the next */
  bool extras_sent;   /* malformed / huge_event were sent */
  struct sbuf ev;     /* rendered, not yet delivered bytes */
  size_t ev_off;

  /* mock.replay: a recorded body sent as it is (section "replay") */
  bool replay;
  cJSON *replay_copy;  /* the default replay object, copied (may be NULL) */
  char *rp_body;       /* the file's bytes */
  size_t rp_len, rp_off, rp_stop; /* rp_stop: bytes to send before closing (rp_len = all) */
  size_t rp_chunk;     /* piece size; 0 = whole body with Content-Length */
  char *rp_ctype;
  bool rp_cut;         /* stop_after_bytes: close after rp_stop bytes with no end of body */
  bool rp_fb_pending, rp_gap_pending, rp_cut_armed;

  /* AWS Bedrock */
  char *raw_path;        /* the request path as it came, before percent-decoding (the SigV4 check) */
  const char *aws_etype; /* an error's x-amzn-ErrorType (static), or NULL */
  long frames;           /* event-stream frames rendered */
};

static void form_free(struct form *f)
{
  if (!f) return;
  for (int i = 0; i < f->n; i++) {
    free(f->part[i].name);
    free(f->part[i].filename);
    free(f->part[i].ctype);
    sb_free(&f->part[i].data);
  }
  free(f);
}

static void req_free(struct req *r)
{
  if (!r) return;
  form_free(r->form);
  free(r->body);
  cJSON_Delete(r->doc);
  cJSON_Delete(r->xmock);
  cJSON_Delete(r->xmock_headers_copy);
  cJSON_Delete(r->replay_copy);
  free(r->rp_body);
  free(r->rp_ctype);
  free(r->raw_copy);
  free(r->reject_copy);
  free(r->reject_keys_copy);
  free(r->raw_path);
  free(r->resp);
  free(r->model_json);
  free(r->tool_name_json);
  free(r->tool_args);
  free(r->word);
  cJSON_Delete(r->agent_copy);
  sb_free(&r->ev);
  free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
  (void)cls;
  (void)c;
  (void)toe;
  req_free(*req_cls);
  *req_cls = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* response helpers                                                                             */

static const char *anthropic_error_type(int status)
{
  switch (status) {
  case 400: return "invalid_request_error";
  case 401: return "authentication_error";
  case 402: return "billing_error";
  case 403: return "permission_error";
  case 404: return "not_found_error";
  case 409: return "conflict_error";
  case 413: return "request_too_large";
  case 429: return "rate_limit_error";
  case 529: return "overloaded_error";
  default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

static const char *gemini_status(int status)
{
  switch (status) {
  case 400: return "INVALID_ARGUMENT";
  case 401: return "UNAUTHENTICATED";
  case 403: return "PERMISSION_DENIED";
  case 404: return "NOT_FOUND";
  case 409: return "ABORTED";
  case 429: return "RESOURCE_EXHAUSTED";
  case 501: return "UNIMPLEMENTED";
  case 503: return "UNAVAILABLE";
  case 504: return "DEADLINE_EXCEEDED";
  default: return status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
  }
}

/* An error body in the shape of dialect d: OpenAI {"error":{message,type,param,code}}, Anthropic
 * {"type":"error","error":{type,message}} (type from the status), Gemini google.rpc
 * {"error":{code,message,status}}. type and code matter for OpenAI only. */
static char *error_json_d(enum dialect d, int status, const char *message, const char *type,
                          const char *code, size_t *len)
{
  struct sbuf b = {0};
  if (d == DL_ANTHROPIC) {
    sb_puts(&b, "{\"type\":\"error\",\"error\":{\"type\":");
    sb_json_str(&b, anthropic_error_type(status));
    sb_puts(&b, ",\"message\":");
    sb_json_str(&b, message);
    sb_puts(&b, "},\"request_id\":\"req_mock\"}\n");
    return sb_steal(&b, len);
  }
  if (d == DL_BEDROCK) {   /* AWS's JSON error: {"message": ...} (the type is a header) */
    sb_puts(&b, "{\"message\":");
    sb_json_str(&b, message);
    sb_puts(&b, "}\n");
    return sb_steal(&b, len);
  }
  if (d == DL_GEMINI) {
    sb_printf(&b, "{\"error\":{\"code\":%d,\"message\":", status);
    sb_json_str(&b, message);
    sb_printf(&b, ",\"status\":\"%s\"}}\n", gemini_status(status));
    return sb_steal(&b, len);
  }
  sb_puts(&b, "{\"error\":{\"message\":");
  sb_json_str(&b, message);
  sb_puts(&b, ",\"type\":");
  sb_json_str(&b, type);
  sb_puts(&b, ",\"param\":null,\"code\":");
  if (code) sb_json_str(&b, code);
  else sb_puts(&b, "null");
  sb_puts(&b, "}}\n");
  return sb_steal(&b, len);
}

/* Prepares r to answer status with an error body in r's dialect. */
static void set_error(struct req *r, int status, const char *message, const char *type,
                      const char *code)
{
  free(r->resp);
  r->status = status;
  r->stream = false;
  r->resp = error_json_d(r->dialect, status, message, type, code, &r->resp_len);
  if (r->dialect == DL_BEDROCK)   /* AWS names the error in a header (Bedrock's InvokeModel errors) */
    r->aws_etype = status == 429   ? "ThrottlingException"
                   : status == 403 ? "AccessDeniedException"
                   : status == 404 ? "ResourceNotFoundException"
                   : status == 503 ? "ServiceUnavailableException"
                   : status >= 500 ? "InternalServerException"
                                   : "ValidationException";
}

static void add_extra_headers(struct MHD_Response *resp, const cJSON *headers)
{
  const cJSON *h;
  cJSON_ArrayForEach(h, headers)
  {
    if (cJSON_IsString(h) && h->string) MHD_add_response_header(resp, h->string, h->valuestring);
  }
}

static enum MHD_Result queue_buffer(struct MHD_Connection *c, int status, char *body, size_t len,
                                    const char *ctype, const cJSON *extra)
{
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  add_extra_headers(resp, extra);
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result queue_error_now(struct MHD_Connection *c, enum dialect d, int status,
                                       const char *message, const char *type, const char *code)
{
  size_t len;
  char *body = error_json_d(d, status, message, type, code, &len);
  return queue_buffer(c, status, body, len, "application/json", NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* behaviour parsing                                                                            */

static bool num_field(const cJSON *it, long lo, long hi, long *out, char *err, size_t errlen)
{
  if (!cJSON_IsNumber(it) || it->valuedouble < (double)lo || it->valuedouble > (double)hi) {
    snprintf(err, errlen, "mock.%s must be a number in [%ld, %ld]", it->string, lo, hi);
    return false;
  }
  *out = (long)it->valuedouble;
  return true;
}

/* mock.replay's options (section "replay"). */
struct replay_opts {
  const char *file, *ctype;
  int status;
  long chunk_bytes;      /* 0 = the whole body at once, with Content-Length */
  long stop_after_bytes; /* -1 = send it all and end cleanly */
};

static bool replay_num(const cJSON *it, long lo, long hi, long *out, char *err, size_t errlen)
{
  if (!cJSON_IsNumber(it) || it->valuedouble < (double)lo || it->valuedouble > (double)hi ||
      it->valuedouble != (double)(long)it->valuedouble) {
    snprintf(err, errlen, "mock.replay.%s must be an integer in [%ld, %ld]", it->string, lo, hi);
    return false;
  }
  *out = (long)it->valuedouble;
  return true;
}

/* Checks a mock.replay object and reads its options into o (pointing into m). */
static bool replay_parse(const cJSON *m, struct replay_opts *o, char *err, size_t errlen)
{
  *o = (struct replay_opts){.ctype = "application/json", .status = 200, .stop_after_bytes = -1};
  if (!cJSON_IsObject(m)) {
    snprintf(err, errlen, "mock.replay must be an object {\"file\": PATH, ...}");
    return false;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, m)
  {
    const char *k = it->string ? it->string : "";
    long v = 0;
    if (strcmp(k, "file") == 0) {
      if (!cJSON_IsString(it) || !it->valuestring[0] || strlen(it->valuestring) >= PATH_MAX) {
        snprintf(err, errlen, "mock.replay.file must be a non-empty path");
        return false;
      }
      o->file = it->valuestring;
    } else if (strcmp(k, "content_type") == 0) {
      bool ok = cJSON_IsString(it) && it->valuestring[0] && strlen(it->valuestring) <= 200;
      for (const char *c = ok ? it->valuestring : ""; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) ok = false;
      if (!ok) {
        snprintf(err, errlen, "mock.replay.content_type must be a media type of 1 to 200 printable characters");
        return false;
      }
      o->ctype = it->valuestring;
    } else if (strcmp(k, "status") == 0) {
      if (!replay_num(it, 100, 599, &v, err, errlen)) return false;
      o->status = (int)v;
    } else if (strcmp(k, "chunk_bytes") == 0) {
      if (!replay_num(it, 1, REPLAY_LIMIT, &o->chunk_bytes, err, errlen)) return false;
    } else if (strcmp(k, "stop_after_bytes") == 0) {
      if (!replay_num(it, 0, REPLAY_LIMIT, &o->stop_after_bytes, err, errlen)) return false;
    } else {
      snprintf(err, errlen, "unknown mock.replay key '%.64s'", k);
      return false;
    }
  }
  if (!o->file) {
    snprintf(err, errlen, "mock.replay.file is required");
    return false;
  }
  return true;
}

/* Checks a mock.agent object: {"tool": NAME, "args": {...}, "expect": TEXT, "answer": TEXT}. */
static bool agent_parse(const cJSON *a, char *err, size_t errlen)
{
  if (!cJSON_IsObject(a)) {
    snprintf(err, errlen, "mock.agent must be an object {\"tool\", \"args\", \"expect\", \"answer\"}");
    return false;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, a)
  {
    const char *k = it->string ? it->string : "";
    bool str = strcmp(k, "tool") == 0 || strcmp(k, "expect") == 0 || strcmp(k, "answer") == 0;
    if (str && !(cJSON_IsString(it) && it->valuestring[0] && strlen(it->valuestring) <= 4096)) {
      snprintf(err, errlen, "mock.agent.%s must be a string of 1 to 4096 bytes", k);
      return false;
    }
    if (strcmp(k, "args") == 0 && !cJSON_IsObject(it)) {
      snprintf(err, errlen, "mock.agent.args must be an object (the tool call's arguments)");
      return false;
    }
    if (!str && strcmp(k, "args") != 0) {
      snprintf(err, errlen, "unknown mock.agent key '%.64s'", k);
      return false;
    }
  }
  static const char *const need[] = {"tool", "args", "expect", "answer"};
  for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
    if (!cJSON_GetObjectItemCaseSensitive(a, need[i])) {
      snprintf(err, errlen, "mock.agent.%s is required", need[i]);
      return false;
    }
  return true;
}

/* Applies a "mock" object onto b. Returns false (with err) on an invalid key or value. */
static bool apply_mock(struct behaviour *b, const cJSON *m, char *err, size_t errlen)
{
  if (!cJSON_IsObject(m)) {
    snprintf(err, errlen, "mock must be a JSON object");
    return false;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, m)
  {
    const char *k = it->string ? it->string : "";
    long v = 0;
    bool ok = true;
    if (strcmp(k, "status") == 0) {
      ok = num_field(it, 100, 599, &v, err, errlen);
      b->status = (int)v;
    } else if (strcmp(k, "delay_ms") == 0) {
      ok = num_field(it, 0, MAX_WAIT_MS, &b->delay_ms, err, errlen);
    } else if (strcmp(k, "first_byte_ms") == 0) {
      ok = num_field(it, 0, MAX_WAIT_MS, &b->first_byte_ms, err, errlen);
    } else if (strcmp(k, "chunk_gap_ms") == 0) {
      ok = num_field(it, 0, MAX_WAIT_MS, &b->chunk_gap_ms, err, errlen);
    } else if (strcmp(k, "chunks") == 0) {
      ok = num_field(it, 0, MAX_CHUNKS, &b->chunks, err, errlen);
    } else if (strcmp(k, "echo_key") == 0) {
      if (cJSON_IsBool(it)) b->echo_key = cJSON_IsTrue(it);
      else ok = false, snprintf(err, errlen, "mock.echo_key must be a boolean");
    } else if (strcmp(k, "no_usage") == 0) {
      if (cJSON_IsBool(it)) b->no_usage = cJSON_IsTrue(it);
      else if (cJSON_IsNumber(it)) b->no_usage = it->valuedouble != 0;
      else ok = false, snprintf(err, errlen, "mock.no_usage must be a boolean");
    } else if (strcmp(k, "disconnect_after") == 0 || strcmp(k, "error_after") == 0) {
      long *dst = k[0] == 'd' ? &b->disconnect_after : &b->error_after;
      if (cJSON_IsNull(it)) *dst = -1;
      else ok = num_field(it, -1, MAX_CHUNKS, dst, err, errlen);
    } else if (strcmp(k, "prompt_tokens") == 0) {
      ok = num_field(it, -1, INT_MAX, &b->prompt_tokens, err, errlen);
    } else if (strcmp(k, "cached_tokens") == 0) {
      ok = num_field(it, 0, INT_MAX, &b->cached_tokens, err, errlen);
    } else if (strcmp(k, "completion_tokens") == 0) {
      ok = num_field(it, -1, INT_MAX, &b->completion_tokens, err, errlen);
    } else if (strcmp(k, "stall_after") == 0) {
      ok = num_field(it, -1, MAX_CHUNKS, &b->stall_after, err, errlen);
    } else if (strcmp(k, "stall_ms") == 0) {
      ok = num_field(it, 0, MAX_WAIT_MS, &b->stall_ms, err, errlen);
    } else if (strcmp(k, "drip_ms") == 0) {
      ok = num_field(it, 0, MAX_WAIT_MS, &b->drip_ms, err, errlen);
    } else if (strcmp(k, "huge_event") == 0) {
      ok = num_field(it, 0, 64L << 20, &b->huge_event, err, errlen);
    } else if (strcmp(k, "hang_up") == 0 || strcmp(k, "malformed") == 0) {
      bool *dst = k[0] == 'h' ? &b->hang_up : &b->malformed;
      if (cJSON_IsBool(it)) *dst = cJSON_IsTrue(it);
      else ok = false, snprintf(err, errlen, "mock.%s must be a boolean", k);
    } else if (strcmp(k, "gzip") == 0 || strcmp(k, "strict") == 0) {
      bool *dst = k[0] == 'g' ? &b->gzip : &b->strict;
      if (cJSON_IsBool(it)) *dst = cJSON_IsTrue(it);
      else ok = false, snprintf(err, errlen, "mock.%s must be a boolean", k);
    } else if (strcmp(k, "balance") == 0) {
      if (cJSON_IsNumber(it) && fabs(it->valuedouble) < 1e12) b->balance = it->valuedouble;
      else ok = false, snprintf(err, errlen, "mock.balance must be a number");
    } else if (strcmp(k, "reject_keys") == 0) {
      if (cJSON_IsNull(it)) b->reject_keys = NULL;
      else if (cJSON_IsString(it)) b->reject_keys = it->valuestring;
      else ok = false, snprintf(err, errlen, "mock.reject_keys must be a string or null");
    } else if (strcmp(k, "raw") == 0 || strcmp(k, "reject_field") == 0) {
      const char **dst = k[0] == 'r' && k[1] == 'a' ? &b->raw : &b->reject_field;
      if (cJSON_IsNull(it)) *dst = NULL;
      else if (cJSON_IsString(it)) *dst = it->valuestring;
      else ok = false, snprintf(err, errlen, "mock.%s must be a string or null", k);
    } else if (strcmp(k, "bad_crc") == 0) {
      ok = num_field(it, 0, MAX_CHUNKS, &b->bad_crc, err, errlen);
    } else if (strcmp(k, "headers") == 0) {
      if (!cJSON_IsObject(it)) {
        snprintf(err, errlen, "mock.headers must be an object of strings");
        return false;
      }
      const cJSON *h;
      cJSON_ArrayForEach(h, it)
      {
        if (!cJSON_IsString(h) || strpbrk(h->valuestring, "\r\n") || strpbrk(h->string, "\r\n: ")) {
          snprintf(err, errlen, "mock.headers must be an object of strings");
          return false;
        }
      }
      b->headers = it;
    } else if (strcmp(k, "agent") == 0) {
      if (cJSON_IsNull(it)) b->agent = NULL;
      else if (agent_parse(it, err, errlen)) b->agent = it;
      else return false;
    } else if (strcmp(k, "replay") == 0) {
      struct replay_opts ro;
      if (cJSON_IsNull(it)) b->replay = NULL;
      else if (replay_parse(it, &ro, err, errlen)) b->replay = it;
      else return false;
    } else {
      snprintf(err, errlen, "unknown mock key '%.64s'", k);
      return false;
    }
    if (!ok) return false;
  }
  return true;
}

/* ------------------------------------------------------------------------------------------ */
/* answers                                                                                      */

static const char WORD[] = "hello ";

/* mock.agent's thinking block (Anthropic, thinking on) */
#define AGENT_THOUGHT "The user wants the file read: call the tool."
#define AGENT_SIGNATURE "mock-signature-EqQBCgIYAhIM"

/* The text of one content chunk (JSON-escaped), and a tool call's arguments (JSON text). */
static const char *rword(const struct req *r) { return r->word ? r->word : WORD; }
static const char *rargs(const struct req *r) { return r->tool_args ? r->tool_args : "{\"q\":\"x\"}"; }

/* Appends s as the inside of a JSON string literal (escaped, no quotes). */
static void sb_json_inner(struct sbuf *b, const char *s, size_t n)
{
  char *tmp = xrealloc(NULL, n + 1);
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  struct sbuf q = {0};
  sb_json_str(&q, tmp);
  sb_put(b, q.p + 1, q.len - 2);
  sb_free(&q);
  free(tmp);
}

/* A streamed call's arguments go out in two pieces: half i (0 or 1) of rargs, escaped for a JSON
 * string; the cut never splits a UTF-8 sequence. */
static void sb_args_piece(struct sbuf *b, const struct req *r, int i)
{
  const char *a = rargs(r);
  size_t n = strlen(a), mid = n / 2;
  while (mid < n && ((unsigned char)a[mid] & 0xC0) == 0x80) mid++;
  if (i == 0) sb_json_inner(b, a, mid);
  else sb_json_inner(b, a + mid, n - mid);
}

/* Appends the whole of the content: chunks x rword. */
static void sb_words(struct sbuf *b, const struct req *r)
{
  for (long i = 0; i < r->b.chunks; i++) sb_puts(b, rword(r));
}
#define GEMINI_PREFIX "/v1beta/models/"
#define AZURE_PREFIX "/openai/deployments/"

static void usage_json(struct sbuf *b, long p, long c)
{
  sb_printf(b, "{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld}", p, c, p + c);
}

static long count_items(const cJSON *v)
{
  if (cJSON_IsString(v)) return 1;
  if (!cJSON_IsArray(v)) return 0;
  const cJSON *first = v->child;
  if (first && cJSON_IsNumber(first)) return 1; /* one prompt given as token ids */
  return cJSON_GetArraySize(v);
}

static void chat_tool_choice(struct req *r);
static bool vertex_checks(struct req *r, const char *url);

/* Fills in the chat / completions answer (stream or not) for a valid request. */
static void prepare_generation(struct req *r, const char *model)
{
  const struct behaviour *b = &r->b;
  struct sbuf m = {0};
  sb_json_str(&m, model);
  r->model_json = sb_steal(&m, NULL);
  r->created = (long long)time(NULL);

  long inputs = r->chat ? count_items(cJSON_GetObjectItemCaseSensitive(r->doc, "messages"))
                        : count_items(cJSON_GetObjectItemCaseSensitive(r->doc, "prompt"));
  r->prompt_tokens = b->prompt_tokens >= 0 ? b->prompt_tokens : 10 + inputs;
  r->completion_tokens = b->completion_tokens >= 0 ? b->completion_tokens : b->chunks;

  if (r->chat) chat_tool_choice(r);
  r->completion_tokens = b->completion_tokens >= 0 ? b->completion_tokens : b->chunks; /* agent may set chunks */
  const cJSON *stream = cJSON_GetObjectItemCaseSensitive(r->doc, "stream");
  r->stream = cJSON_IsTrue(stream);
  if (r->stream) {
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(r->doc, "stream_options");
    r->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage")) &&
                       !b->no_usage;
    r->st = r->chat ? SS_ROLE : SS_CONTENT;
    r->fb_pending = b->first_byte_ms > 0;
    r->status = 200;
    return;
  }
  if (b->disconnect_after >= 0) {
    r->hang_up = true;
    return;
  }
  struct sbuf o = {0};
  sb_reserve(&o, 320 + (size_t)b->chunks * (sizeof WORD - 1));
  if (r->chat && r->tool) {
    sb_printf(&o, "{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion\",\"created\":%lld,\"model\":%s,"
                  "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
                  "\"tool_calls\":[{\"id\":\"call_mock\",\"type\":\"function\",\"function\":{\"name\":%s,"
                  "\"arguments\":\"",
              r->created, r->model_json, r->tool_name_json);
    sb_args_piece(&o, r, 0);
    sb_args_piece(&o, r, 1);
    sb_puts(&o, "\"}}]},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]");
  } else if (r->chat)
    sb_printf(&o, "{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion\",\"created\":%lld,\"model\":%s,"
                  "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"",
              r->created, r->model_json);
  else
    sb_printf(&o, "{\"id\":\"cmpl-mock\",\"object\":\"text_completion\",\"created\":%lld,\"model\":%s,"
                  "\"choices\":[{\"text\":\"",
              r->created, r->model_json);
  if (!r->tool) sb_words(&o, r);
  if (r->chat && r->tool) {
  } else if (r->chat) sb_puts(&o, "\"},\"logprobs\":null,\"finish_reason\":\"stop\"}]");
  else sb_puts(&o, "\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}]");
  if (!b->no_usage) {
    sb_puts(&o, ",\"usage\":");
    usage_json(&o, r->prompt_tokens, r->completion_tokens);
  }
  sb_puts(&o, ",\"system_fingerprint\":null}\n");
  r->status = 200;
  r->resp = sb_steal(&o, &r->resp_len);
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

/* Deterministic value in [-1, 1] for (text, dim). */
static float embed_value(uint64_t h, long dim)
{
  uint64_t x = h ^ ((uint64_t)(dim + 1) * 0x9E3779B97F4A7C15u);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdu;
  x ^= x >> 33;
  return (float)((double)(x % 20001u) / 10000.0 - 1.0);
}

static void base64_append(struct sbuf *b, const unsigned char *p, size_t n)
{
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    char out[4] = {tbl[(v >> 18) & 63], tbl[(v >> 12) & 63],
                   i + 1 < n ? tbl[(v >> 6) & 63] : '=', i + 2 < n ? tbl[v & 63] : '='};
    sb_put(b, out, 4);
  }
}

static void prepare_embeddings(struct req *r, const char *model)
{
  const cJSON *input = cJSON_GetObjectItemCaseSensitive(r->doc, "input");
  if (!cJSON_IsString(input) && !cJSON_IsArray(input)) {
    set_error(r, 400, "'input' is a required property", "invalid_request_error", NULL);
    return;
  }
  long dims = EMBED_DIMS;
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(r->doc, "dimensions");
  if (cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= MAX_EMBED_DIMS)
    dims = (long)d->valuedouble;
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(r->doc, "encoding_format");
  bool b64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;

  long n = count_items(input);
  struct sbuf o = {0};
  sb_puts(&o, "{\"object\":\"list\",\"data\":[");
  float *vec = xcalloc((size_t)dims, sizeof *vec);
  bool token_ids = cJSON_IsArray(input) && input->child && cJSON_IsNumber(input->child);
  const cJSON *item = cJSON_IsArray(input) && !token_ids ? input->child : input;
  for (long i = 0; i < n && item; i++, item = cJSON_IsArray(input) && !token_ids ? item->next : NULL) {
    char *text = cJSON_IsString(item) ? NULL : cJSON_PrintUnformatted(item);
    uint64_t h = fnv1a(cJSON_IsString(item) ? item->valuestring : (text ? text : ""),
                       1469598103934665603u);
    free(text);
    for (long k = 0; k < dims; k++) vec[k] = embed_value(h, k);
    sb_printf(&o, "%s{\"object\":\"embedding\",\"index\":%ld,\"embedding\":", i ? "," : "", i);
    if (b64) {
      unsigned char *bytes = xcalloc((size_t)dims, 4);
      for (long k = 0; k < dims; k++) { /* little-endian float32, like OpenAI */
        uint32_t u;
        memcpy(&u, &vec[k], 4);
        for (int j = 0; j < 4; j++) bytes[k * 4 + j] = (unsigned char)(u >> (8 * j));
      }
      sb_puts(&o, "\"");
      base64_append(&o, bytes, (size_t)dims * 4);
      sb_puts(&o, "\"");
      free(bytes);
    } else {
      sb_puts(&o, "[");
      for (long k = 0; k < dims; k++) sb_printf(&o, "%s%.6f", k ? "," : "", (double)vec[k]);
      sb_puts(&o, "]");
    }
    sb_puts(&o, "}");
  }
  free(vec);
  long p = r->b.prompt_tokens >= 0 ? r->b.prompt_tokens : 10 + n;
  sb_puts(&o, "],\"model\":");
  sb_json_str(&o, model);
  if (!r->b.no_usage) sb_printf(&o, ",\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld}", p, p);
  sb_puts(&o, "}\n");
  r->status = 200;
  r->resp = sb_steal(&o, &r->resp_len);
}

static void prepare_balance(struct req *r, const char *url);

static void prepare_model_one(struct req *r, const char *url)
{
  const char *id = url + strlen("/v1/models/");
  for (size_t i = 0; i < cfg.nmodels; i++) {
    if (strcmp(cfg.models[i], id) == 0) {
      struct sbuf o = {0};
      sb_puts(&o, "{\"id\":");
      sb_json_str(&o, id);
      sb_puts(&o, ",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"mock\"}\n");
      r->status = 200;
      r->resp = sb_steal(&o, &r->resp_len);
      return;
    }
  }
  struct sbuf m = {0};
  sb_printf(&m, "The model '%.200s' does not exist", id);
  set_error(r, 404, m.p, "invalid_request_error", "model_not_found");
  sb_free(&m);
}

/* ------------------------------------------------------------------------------------------ */
/* Anthropic, Gemini and Azure specifics                                                        */

static bool has_value(const char *v) { return v && *v; }

static bool aws_verify(struct req *r);

/* The credentials each API wants; false (r answered with the API's error) when missing. */
static bool check_keys(struct req *r)
{
  struct MHD_Connection *c = r->conn;
  if (r->vertex) return true;   /* vertex_checks: an OAuth token, not a key */
  if (r->route == RT_BEDROCK || r->route == RT_BEDROCK_STREAM) return aws_verify(r);
  if (r->route == RT_MESSAGES || r->route == RT_ANTH_COUNT) {
    if (!has_value(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-api-key"))) {
      set_error(r, 401, "x-api-key header is required", NULL, NULL);
      return false;
    }
    if (!has_value(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "anthropic-version"))) {
      set_error(r, 400, "anthropic-version: header is required", NULL, NULL);
      return false;
    }
  } else if (dialect_of(r->route) == DL_GEMINI) {
    if (!has_value(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-goog-api-key")) &&
        !has_value(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "key"))) {
      free(r->resp);
      r->status = 400;
      r->stream = false;
      r->resp = xstrdup(
          "{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API key.\","
          "\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc."
          "ErrorInfo\",\"reason\":\"API_KEY_INVALID\",\"domain\":\"googleapis.com\",\"metadata\":"
          "{\"service\":\"generativelanguage.googleapis.com\"}}]}}\n");
      r->resp_len = strlen(r->resp);
      return false;
    }
  } else if (r->route == RT_AZURE_CHAT) {
    if (!has_value(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "api-key"))) {
      set_error(r, 401,
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                "provide a valid key for an active subscription and use a correct regional API "
                "endpoint for your resource.",
                "invalid_request_error", "401");
      return false;
    }
    if (!has_value(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "api-version"))) {
      set_error(r, 404, "Resource not found", "invalid_request_error", "404");
      return false;
    }
  }
  return true;
}

/* Does the text of message m (string content or text blocks) contain needle? */
static bool message_mentions(const cJSON *m, const char *needle)
{
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
  if (cJSON_IsString(content)) return strstr(content->valuestring, needle) != NULL;
  const cJSON *blk;
  cJSON_ArrayForEach(blk, content)
  {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(blk, "text");
    if (cJSON_IsString(t) && strstr(t->valuestring, needle)) return true;
  }
  return false;
}

/* Sets r->tool / r->tool_name_json to call the tool named name. */
static void want_tool(struct req *r, const cJSON *name)
{
  struct sbuf t = {0};
  sb_json_str(&t, cJSON_IsString(name) ? name->valuestring : "tool");
  free(r->tool_name_json);
  r->tool_name_json = sb_steal(&t, NULL);
  r->tool = true;
}

/* ---- agent: a scripted tool round trip, for the coding agents (tests/bats/19-agents.bats) ----
 * mock.agent = {"tool": NAME, "args": {...}, "expect": TEXT, "answer": TEXT}. A request in any of
 * the four generation formats (OpenAI chat, Anthropic Messages, Gemini, Responses):
 *  - carrying a tool result (OpenAI role "tool", Anthropic tool_result block, Gemini
 *    functionResponse part, Responses function_call_output item): turn 2, answered in text: ANSWER
 *    when a string inside some tool result contains EXPECT, else a text saying it did not;
 *  - else offering a tool named NAME: turn 1, answered with a call of NAME with ARGS;
 *  - else (an agent's side request: a title, a summary) the ordinary answer. */

/* Does any string inside v contain needle? */
static bool json_mentions(const cJSON *v, const char *needle, int depth)
{
  if (depth > 64) return false;
  if (cJSON_IsString(v)) return strstr(v->valuestring, needle) != NULL;
  const cJSON *c;
  cJSON_ArrayForEach(c, v) if (json_mentions(c, needle, depth + 1)) return true;
  return false;
}

/* Counts the tool results in request doc (any format); *found tells whether one mentions needle. */
static int agent_results(const cJSON *doc, const char *needle, bool *found)
{
  int n = 0;
  const cJSON *m, *blk, *p;
  *found = false;
  cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(doc, "messages"))
  {
    const char *role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "role"));
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (role && strcmp(role, "tool") == 0) { /* OpenAI chat */
      n++;
      *found = *found || json_mentions(content, needle, 0);
    }
    const cJSON *blocks = cJSON_IsArray(content) ? content : NULL;
    cJSON_ArrayForEach(blk, blocks) /* Anthropic */
    {
      const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(blk, "type"));
      if (t && strcmp(t, "tool_result") == 0) {
        n++;
        *found = *found || json_mentions(cJSON_GetObjectItemCaseSensitive(blk, "content"), needle, 0);
      }
    }
  }
  cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(doc, "contents")) /* Gemini */
  {
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(m, "parts"))
    {
      const cJSON *fr = cJSON_GetObjectItemCaseSensitive(p, "functionResponse");
      if (fr) {
        n++;
        *found = *found || json_mentions(cJSON_GetObjectItemCaseSensitive(fr, "response"), needle, 0);
      }
    }
  }
  const cJSON *input = cJSON_GetObjectItemCaseSensitive(doc, "input"); /* Responses */
  const cJSON *items = cJSON_IsArray(input) ? input : NULL;
  cJSON_ArrayForEach(m, items)
  {
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "type"));
    if (t && strcmp(t, "function_call_output") == 0) {
      n++;
      *found = *found || json_mentions(cJSON_GetObjectItemCaseSensitive(m, "output"), needle, 0);
    }
  }
  return n;
}

/* The tool named name among the request's tools (any format), or NULL. */
static const cJSON *agent_offered(const cJSON *doc, const char *name)
{
  const cJSON *t, *d;
  cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(doc, "tools"))
  {
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function"); /* OpenAI chat */
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(fn ? fn : t, "name"); /* Anthropic, Responses */
    if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0) return nm;
    const cJSON *decls = cJSON_GetObjectItemCaseSensitive(t, "functionDeclarations"); /* Gemini */
    if (!decls) decls = cJSON_GetObjectItemCaseSensitive(t, "function_declarations");
    cJSON_ArrayForEach(d, decls)
    {
      nm = cJSON_GetObjectItemCaseSensitive(d, "name");
      if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0) return nm;
    }
  }
  return NULL;
}

/* Decides turn 1 or turn 2 of mock.agent for r (see above); false when mock.agent is off. */
static bool agent_turn(struct req *r)
{
  const cJSON *a = r->b.agent;
  if (!a) return false;
  const char *tool = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "tool"));
  const char *expect = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "expect"));
  const char *answer = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "answer"));
  bool found;
  if (agent_results(r->doc, expect, &found) > 0) {
    struct sbuf t = {0}, w = {0};
    if (found) sb_puts(&t, answer);
    else sb_printf(&t, "mock agent: no tool result contains '%s'", expect);
    sb_json_str(&w, t.p);
    sb_free(&t);
    size_t n;
    char *q = sb_steal(&w, &n); /* drop the quotes */
    memmove(q, q + 1, n - 2);
    q[n - 2] = '\0';
    free(r->word);
    r->word = q;
    r->b.chunks = 1;
    return true;
  }
  const cJSON *nm = agent_offered(r->doc, tool);
  if (nm) {
    /* with thinking on, Anthropic answers a signed thinking block before the tool_use (and wants it
     * back first in the next turn: strict_refusal) */
    const char *tt = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->doc, "thinking"), "type"));
    r->thinking = r->dialect == DL_ANTHROPIC && tt && (strcmp(tt, "enabled") == 0 || strcmp(tt, "adaptive") == 0);
    want_tool(r, nm);
    free(r->tool_args);
    r->tool_args = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(a, "args"));
    if (!r->tool_args) die("out of memory");
  }
  return true;
}


/* OpenAI chat: a tool call when tools are offered and the LAST message is a user message saying
 * "use tool" (after a tool result the model answers in text). */
static void chat_tool_choice(struct req *r)
{
  if (agent_turn(r)) return;
  const cJSON *tools = cJSON_GetObjectItemCaseSensitive(r->doc, "tools");
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->doc, "messages");
  if (!cJSON_IsArray(tools) || !tools->child || !cJSON_IsArray(msgs)) return;
  const cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
  const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
  if (!cJSON_IsString(role) || strcmp(role->valuestring, "user") != 0 || !message_mentions(last, "use tool"))
    return;
  want_tool(r, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tools->child, "function"), "name"));
}

/* Gemini: a functionCall when functionDeclarations are offered and the last content is a user turn
 * with a text part saying "use tool". */
static void gemini_tool_choice(struct req *r, const cJSON *contents)
{
  if (agent_turn(r)) return;
  const cJSON *tools = cJSON_GetObjectItemCaseSensitive(r->doc, "tools"), *tool;
  const cJSON *decl = NULL;
  cJSON_ArrayForEach(tool, tools)
  {
    const cJSON *fd = cJSON_GetObjectItemCaseSensitive(tool, "functionDeclarations");
    if (!fd) fd = cJSON_GetObjectItemCaseSensitive(tool, "function_declarations");
    if (cJSON_IsArray(fd) && fd->child) {
      decl = fd->child;
      break;
    }
  }
  if (!decl) return;
  const cJSON *last = cJSON_GetArrayItem(contents, cJSON_GetArraySize(contents) - 1);
  const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
  if (cJSON_IsString(role) && strcmp(role->valuestring, "user") != 0) return;
  const cJSON *part;
  cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(last, "parts"))
  {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
    if (cJSON_IsString(t) && strstr(t->valuestring, "use tool")) {
      want_tool(r, cJSON_GetObjectItemCaseSensitive(decl, "name"));
      return;
    }
  }
}

static void anthropic_usage(struct sbuf *o, const struct req *r, long in, long out)
{
  if (!r->b.no_usage) sb_printf(o, ",\"usage\":{\"input_tokens\":%ld,\"output_tokens\":%ld}", in, out);
}

/* POST /v1/messages */
static void prepare_messages(struct req *r)
{
  const struct behaviour *b = &r->b;
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->doc, "model");
  const cJSON *maxt = cJSON_GetObjectItemCaseSensitive(r->doc, "max_tokens");
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->doc, "messages");
  if (!cJSON_IsString(model)) {
    set_error(r, 400, "model: Field required", NULL, NULL);
    return;
  }
  if (!cJSON_IsNumber(maxt) || maxt->valuedouble < 1 || maxt->valuedouble > 1e15 ||
      maxt->valuedouble != (double)(long long)maxt->valuedouble) {
    set_error(r, 400, "max_tokens: Field required (a positive integer)", NULL, NULL);
    return;
  }
  if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
    set_error(r, 400, "messages: at least one message is required", NULL, NULL);
    return;
  }
  struct sbuf m = {0};
  sb_json_str(&m, model->valuestring);
  r->model_json = sb_steal(&m, NULL);
  long inputs = cJSON_GetArraySize(msgs) + (cJSON_GetObjectItemCaseSensitive(r->doc, "system") ? 1 : 0);
  r->prompt_tokens = b->prompt_tokens >= 0 ? b->prompt_tokens : 10 + inputs;
  r->completion_tokens = b->completion_tokens >= 0 ? b->completion_tokens : b->chunks;

  /* tool_use when tools are offered and the last user message says "use tool" */
  const cJSON *tools = cJSON_GetObjectItemCaseSensitive(r->doc, "tools");
  if (agent_turn(r)) {
    r->completion_tokens = b->completion_tokens >= 0 ? b->completion_tokens : b->chunks;
  } else if (cJSON_IsArray(tools) && tools->child) {
    const cJSON *last_user = NULL, *it;
    cJSON_ArrayForEach(it, msgs)
    {
      const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
      if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0) last_user = it;
    }
    if (last_user && message_mentions(last_user, "use tool"))
      want_tool(r, cJSON_GetObjectItemCaseSensitive(tools->child, "name"));
  }

  r->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->doc, "stream"));
  r->status = 200;
  if (r->stream) {
    r->st = SS_A_START;
    r->fb_pending = b->first_byte_ms > 0;
    return;
  }
  if (b->disconnect_after >= 0) {
    r->hang_up = true;
    return;
  }
  struct sbuf o = {0};
  sb_reserve(&o, 320 + (size_t)b->chunks * (sizeof WORD - 1));
  sb_printf(&o, "{\"id\":\"msg_mock\",\"type\":\"message\",\"role\":\"assistant\",\"model\":%s,\"content\":[",
            r->model_json);
  if (r->thinking)
    sb_printf(&o, "{\"type\":\"thinking\",\"thinking\":\"%s\",\"signature\":\"%s\"},", AGENT_THOUGHT, AGENT_SIGNATURE);
  if (r->tool) {
    sb_printf(&o, "{\"type\":\"tool_use\",\"id\":\"toolu_mock\",\"name\":%s,\"input\":%s}",
              r->tool_name_json, rargs(r));
  } else {
    sb_puts(&o, "{\"type\":\"text\",\"text\":\"");
    sb_words(&o, r);
    sb_puts(&o, "\"}");
  }
  sb_printf(&o, "],\"stop_reason\":\"%s\",\"stop_sequence\":null", r->tool ? "tool_use" : "end_turn");
  anthropic_usage(&o, r, r->prompt_tokens, r->completion_tokens);
  sb_puts(&o, "}\n");
  r->resp = sb_steal(&o, &r->resp_len);
}

/* ------------------------------------------------------------------------------------------ */
/* AWS Bedrock                                                                                  */
/* InvokeModel / InvokeModelWithResponseStream for Anthropic models
 * (docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModelWithResponseStream.html):
 * the body is a Messages request with anthropic_version "bedrock-2023-05-31" and no model (it is
 * in the path); every request is signed with SigV4, checked here with the mock's own code exactly
 * as AWS computes it (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html:
 * canonical request, string to sign, key derived from --aws-secret), a bad one answered 403 with
 * AWS's error shape ({"message"} and x-amzn-ErrorType); the stream is AWS's event-stream framing
 * (prelude: total and header lengths and their CRC32; headers; payload; message CRC32 -- the layout
 * botocore/eventstream.py reads), each `chunk` event's payload {"bytes": base64 of one Anthropic
 * event}, message_stop carrying "amazon-bedrock-invocationMetrics", errors as `exception` messages. */

static const char AWS_SIG_MISMATCH[] =
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details.";

static void aws_error(struct req *r, int status, const char *etype, const char *message)
{
  set_error(r, status, message, NULL, NULL);
  r->aws_etype = etype;
}

static void hex_lower(const unsigned char *p, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static void hmac_sha256(const unsigned char *key, size_t klen, const char *msg, unsigned char out[32])
{
  unsigned int ol = 32;
  HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &ol);
}

/* AWS's URI encoding: unreserved characters kept, '/' kept in a path, the rest %XX. */
static void aws_uri_encode(struct sbuf *b, const char *s, bool path)
{
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' || (path && *p == '/'))
      sb_put(b, (const char *)p, 1);
    else
      sb_printf(b, "%%%02X", *p);
  }
}

/* A header value as SigV4 canonicalizes it: trimmed, inner runs of spaces as one. */
static void aws_header_value(struct sbuf *b, const char *v)
{
  while (*v == ' ' || *v == '\t') v++;
  bool space = false;
  for (; *v; v++) {
    if (*v == ' ' || *v == '\t') {
      space = true;
      continue;
    }
    if (space) sb_put(b, " ", 1);
    space = false;
    sb_put(b, v, 1);
  }
}

/* The SigV4 check of a Bedrock request; false when r was answered with AWS's 403. */
static bool aws_verify(struct req *r)
{
  struct MHD_Connection *c = r->conn;
  if (!cfg.aws_secret || !cfg.aws_access_key) {
    aws_error(r, 500, "InternalServerException", "mock-upstream: start it with --aws-access-key and --aws-secret");
    return false;
  }
  const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  const char *amzdate = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Date");
  if (!auth || strncmp(auth, "AWS4-HMAC-SHA256 ", 17) != 0) {
    aws_error(r, 403, "MissingAuthenticationTokenException", "Missing Authentication Token");
    return false;
  }
  char ak[129], date8[9], region[33], service[33], term[33], signed_h[513], sig[65];
  const char *cr = strstr(auth, "Credential="), *sh = strstr(auth, "SignedHeaders="), *sg = strstr(auth, "Signature=");
  if (!cr || !sh || !sg ||
      sscanf(cr, "Credential=%128[^/]/%8[0-9]/%32[^/]/%32[^/]/%32[^,]", ak, date8, region, service, term) != 5 ||
      sscanf(sh, "SignedHeaders=%512[^,]", signed_h) != 1 || sscanf(sg, "Signature=%64[0-9a-f]", sig) != 1 ||
      strlen(sig) != 64 || strcmp(term, "aws4_request") != 0) {
    aws_error(r, 403, "IncompleteSignatureException",
              "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.");
    return false;
  }
  if (strcmp(ak, cfg.aws_access_key) != 0) {
    aws_error(r, 403, "UnrecognizedClientException", "The security token included in the request is invalid.");
    return false;
  }
  if (cfg.aws_token) {
    const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Security-Token");
    if (!tok || strcmp(tok, cfg.aws_token) != 0) {
      aws_error(r, 403, "UnrecognizedClientException", "The security token included in the request is invalid.");
      return false;
    }
  }
  if (cfg.aws_region && strcmp(region, cfg.aws_region) != 0) {
    char m[128];
    snprintf(m, sizeof m, "Credential should be scoped to a valid region. ");
    aws_error(r, 403, "InvalidSignatureException", m);
    return false;
  }
  if (strcmp(service, "bedrock") != 0) {
    aws_error(r, 403, "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'. ");
    return false;
  }
  /* X-Amz-Date: YYYYMMDDTHHMMSSZ, its day the scope's, within 15 minutes of now */
  struct tm tm = {0};
  const char *end = amzdate ? strptime(amzdate, "%Y%m%dT%H%M%SZ", &tm) : NULL;
  if (!end || *end || strncmp(amzdate, date8, 8) != 0) {
    aws_error(r, 403, "IncompleteSignatureException", "Date must be in ISO-8601 'basic format'.");
    return false;
  }
  time_t t = timegm(&tm), now = time(NULL);
  if (t < now - 900 || t > now + 900) {
    aws_error(r, 403, "InvalidSignatureException", "Signature expired: the X-Amz-Date is more than 15 minutes "
                                                   "from now.");
    return false;
  }
  /* the signed headers: lower case, sorted, host and x-amz-date among them */
  char names[513];
  snprintf(names, sizeof names, "%s", signed_h);
  bool has_host = false, has_date = false;
  struct sbuf canon = {0};
  sb_puts(&canon, "POST\n");
  aws_uri_encode(&canon, r->raw_path ? r->raw_path : "/", true);   /* the path as sent, encoded again */
  sb_puts(&canon, "\n");
  /* the query: none of Bedrock's runtime calls has one (anything else fails the signature) */
  sb_puts(&canon, "\n");
  char prev[128] = "";
  for (char *save = NULL, *n = strtok_r(names, ";", &save); n; n = strtok_r(NULL, ";", &save)) {
    for (char *q = n; *q; q++)
      if (*q >= 'A' && *q <= 'Z') goto bad;
    if (strlen(n) >= sizeof prev || strcmp(n, prev) <= 0) goto bad;
    snprintf(prev, sizeof prev, "%s", n);
    has_host |= strcmp(n, "host") == 0;
    has_date |= strcmp(n, "x-amz-date") == 0;
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, n);
    if (!v) goto bad;
    sb_printf(&canon, "%s:", n);
    aws_header_value(&canon, v);
    sb_puts(&canon, "\n");
  }
  if (!has_host || !has_date) {
    sb_free(&canon);
    aws_error(r, 403, "InvalidSignatureException",
              "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    return false;
  }
  unsigned char d[32];
  char hex[65];
  SHA256((const unsigned char *)(r->body ? r->body : ""), r->body_len, d);
  hex_lower(d, 32, hex);
  sb_printf(&canon, "\n%s\n%s", signed_h, hex);
  SHA256((const unsigned char *)canon.p, canon.len, d);
  hex_lower(d, 32, hex);
  sb_free(&canon);
  struct sbuf sts = {0}, k = {0};
  sb_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amzdate, date8, region, service, hex);
  sb_printf(&k, "AWS4%s", cfg.aws_secret);
  unsigned char kd[32];
  hmac_sha256((const unsigned char *)k.p, k.len, date8, kd);
  hmac_sha256(kd, 32, region, kd);
  hmac_sha256(kd, 32, service, kd);
  hmac_sha256(kd, 32, "aws4_request", kd);
  hmac_sha256(kd, 32, sts.p, d);
  hex_lower(d, 32, hex);
  sb_free(&sts);
  sb_free(&k);
  if (strcmp(hex, sig) != 0) {
    aws_error(r, 403, "InvalidSignatureException", AWS_SIG_MISMATCH);
    return false;
  }
  return true;
bad:
  sb_free(&canon);
  aws_error(r, 403, "InvalidSignatureException", AWS_SIG_MISMATCH);
  return false;
}

/* POST /model/{model-id}/invoke[-with-response-stream]: answered as /v1/messages for that model. */
static void prepare_bedrock(struct req *r, const char *url)
{
  const char *m = url + strlen("/model/"), *slash = strrchr(m, '/');
  if (!cJSON_IsObject(r->doc)) {
    aws_error(r, 400, "ValidationException", "Malformed input request, please reformat your input and try again.");
    return;
  }
  const cJSON *av = cJSON_GetObjectItemCaseSensitive(r->doc, "anthropic_version");
  if (!cJSON_IsString(av) || strcmp(av->valuestring, "bedrock-2023-05-31") != 0) {
    aws_error(r, 400, "ValidationException",
              "Malformed input request: #: required key [anthropic_version] not found, please reformat your "
              "input and try again.");
    return;
  }
  static const char *const extraneous[] = {"model", "stream"};
  for (size_t i = 0; i < 2; i++)
    if (cJSON_HasObjectItem(r->doc, extraneous[i])) {
      char msg[160];
      snprintf(msg, sizeof msg, "Malformed input request: #: extraneous key [%s] is not permitted, please "
                                "reformat your input and try again.", extraneous[i]);
      aws_error(r, 400, "ValidationException", msg);
      return;
    }
  char *model = strndup(m, (size_t)(slash - m));
  if (!model) die("out of memory");
  cJSON_AddStringToObject(r->doc, "model", model);
  if (r->route == RT_BEDROCK_STREAM) cJSON_AddBoolToObject(r->doc, "stream", true);
  free(model);
  prepare_messages(r);
}

static void put_be32(struct sbuf *b, uint32_t v)
{
  unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                        (unsigned char)v};
  sb_put(b, (const char *)p, 4);
}

/* One event-stream header of string type (7): name length, name, 7, value length (2), value. */
static void frame_header(struct sbuf *h, const char *name, const char *value)
{
  unsigned char nl = (unsigned char)strlen(name), t = 7;
  size_t vl = strlen(value);
  sb_put(h, (const char *)&nl, 1);
  sb_puts(h, name);
  sb_put(h, (const char *)&t, 1);
  unsigned char l[2] = {(unsigned char)(vl >> 8), (unsigned char)vl};
  sb_put(h, (const char *)l, 2);
  sb_puts(h, value);
}

/* One event-stream message (headers h, payload) appended to the stream; mock.bad_crc N spoils the
 * message CRC of the Nth. */
static void ev_frame(struct req *r, const struct sbuf *h, const char *payload, size_t plen)
{
  struct sbuf f = {0};
  put_be32(&f, (uint32_t)(12 + h->len + plen + 4));
  put_be32(&f, (uint32_t)h->len);
  put_be32(&f, (uint32_t)crc32(0, (const Bytef *)f.p, 8));
  sb_put(&f, h->p, h->len);
  sb_put(&f, payload, plen);
  uint32_t crc = (uint32_t)crc32(0, (const Bytef *)f.p, (uInt)f.len);
  if (r->b.bad_crc > 0 && ++r->frames == r->b.bad_crc) crc ^= 0x5a5a5a5au;
  put_be32(&f, crc);
  sb_put(&r->ev, f.p, f.len);
  sb_free(&f);
}

/* A `chunk` event holding one Anthropic event (its JSON text). */
static void ev_bedrock_chunk(struct req *r, const char *json, size_t len)
{
  struct sbuf h = {0}, p = {0};
  frame_header(&h, ":event-type", "chunk");
  frame_header(&h, ":content-type", "application/json");
  frame_header(&h, ":message-type", "event");
  sb_puts(&p, "{\"bytes\":\"");
  base64_append(&p, (const unsigned char *)json, len);
  sb_puts(&p, "\",\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGH\"}");
  ev_frame(r, &h, p.p, p.len);
  sb_free(&h);
  sb_free(&p);
}

/* An `exception` message (error_after): a modelStreamErrorException. */
static void ev_bedrock_exception(struct req *r, const char *message)
{
  struct sbuf h = {0}, p = {0};
  frame_header(&h, ":exception-type", "modelStreamErrorException");
  frame_header(&h, ":content-type", "application/json");
  frame_header(&h, ":message-type", "exception");
  sb_puts(&p, "{\"message\":");
  sb_json_str(&p, message);
  sb_puts(&p, ",\"originalStatusCode\":500}");
  ev_frame(r, &h, p.p, p.len);
  sb_free(&h);
  sb_free(&p);
}

/* One GenerateContentResponse: text as the only part; the last one has finishReason and usage. */
static void gemini_frame(struct sbuf *o, const struct req *r, const char *text, bool last)
{
  if (r->tool)
    sb_printf(o, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":"
                 "{\"name\":%s,\"args\":%s}}]},\"finishReason\":\"STOP\",\"index\":0}]",
              r->tool_name_json, rargs(r));
  else
    sb_printf(o, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"%s\"}]}%s,"
                 "\"index\":0}]",
              text, last ? ",\"finishReason\":\"STOP\"" : "");
  if (last && !r->b.no_usage)
    sb_printf(o, ",\"usageMetadata\":{\"promptTokenCount\":%ld,\"candidatesTokenCount\":%ld,"
                 "\"totalTokenCount\":%ld}",
              r->prompt_tokens, r->completion_tokens, r->prompt_tokens + r->completion_tokens);
  sb_printf(o, ",\"modelVersion\":%s}", r->model_json);
}

/* POST /v1beta/models/{model}:generateContent and :streamGenerateContent */
static void prepare_gemini(struct req *r, const char *url)
{
  const struct behaviour *b = &r->b;
  const cJSON *contents = cJSON_GetObjectItemCaseSensitive(r->doc, "contents");
  if (!cJSON_IsArray(contents) || cJSON_GetArraySize(contents) == 0) {
    set_error(r, 400, "* GenerateContentRequest.contents: contents is not specified", NULL, NULL);
    return;
  }
  const char *m = strstr(url, "/models/") + 8;   /* route_of matched it (Gemini or Vertex) */
  size_t n = (size_t)(strrchr(m, ':') - m);
  char *model = xrealloc(NULL, n + 1);
  memcpy(model, m, n);
  model[n] = '\0';
  struct sbuf mj = {0};
  sb_json_str(&mj, model);
  free(model);
  r->model_json = sb_steal(&mj, NULL);
  bool sys = cJSON_GetObjectItemCaseSensitive(r->doc, "systemInstruction") ||
             cJSON_GetObjectItemCaseSensitive(r->doc, "system_instruction");
  long inputs = cJSON_GetArraySize(contents) + (sys ? 1 : 0);
  r->prompt_tokens = b->prompt_tokens >= 0 ? b->prompt_tokens : 10 + inputs;
  r->completion_tokens = b->completion_tokens >= 0 ? b->completion_tokens : b->chunks;
  r->status = 200;
  gemini_tool_choice(r, contents);
  r->completion_tokens = b->completion_tokens >= 0 ? b->completion_tokens : b->chunks; /* agent may set chunks */

  const char *alt = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "alt");
  bool sse = alt && strcmp(alt, "sse") == 0;
  if (r->route == RT_GEM_STREAM && sse) {
    r->stream = true;
    r->st = SS_CONTENT;
    r->fb_pending = b->first_byte_ms > 0;
    return;
  }
  if (b->disconnect_after >= 0) {
    r->hang_up = true;
    return;
  }
  struct sbuf o = {0};
  sb_reserve(&o, 320 + (size_t)b->chunks * (sizeof WORD - 1));
  if (r->route == RT_GEM_GEN) {
    struct sbuf t = {0};
    sb_words(&t, r);
    gemini_frame(&o, r, t.p ? t.p : "", true);
    sb_free(&t);
  } else { /* streamGenerateContent without alt=sse: one JSON array of all the frames */
    sb_puts(&o, "[");
    long frames = b->chunks > 0 && !r->tool ? b->chunks : 1;
    for (long i = 0; i < frames; i++) {
      if (i) sb_puts(&o, ",\n");
      gemini_frame(&o, r, b->chunks > 0 ? rword(r) : "", i + 1 == frames);
    }
    sb_puts(&o, "]");
  }
  sb_puts(&o, "\n");
  r->resp = sb_steal(&o, &r->resp_len);
}

/* POST /v1/messages/count_tokens and :countTokens: the provider's own count, 1000 + the number of
 * messages (contents) so a test tells it from relay's own count. Shapes: Anthropic's
 * {"input_tokens":N} (https://docs.anthropic.com/en/api/messages-count-tokens, and the SDK's
 * anthropics/anthropic-sdk-typescript src/resources/messages/messages.ts MessageTokensCount);
 * Google's CountTokensResponse {"totalTokens":N,"promptTokensDetails":[{"modality","tokenCount"}]}
 * (https://ai.google.dev/api/tokens#CountTokensResponse, googleapis/js-genai src/types.ts).
 * Gemini takes contents or a whole generateContentRequest, not both. */
static void prepare_count(struct req *r)
{
  long n;
  if (r->route == RT_ANTH_COUNT) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->doc, "model");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->doc, "messages");
    if (!cJSON_IsString(model) || !cJSON_IsArray(msgs)) {
      set_error(r, 400, cJSON_IsString(model) ? "messages: Field required" : "model: Field required", NULL, NULL);
      return;
    }
    n = 1000 + cJSON_GetArraySize(msgs);
  } else {
    const cJSON *contents = cJSON_GetObjectItemCaseSensitive(r->doc, "contents");
    const cJSON *gcr = cJSON_GetObjectItemCaseSensitive(r->doc, "generateContentRequest");
    if (contents && gcr) {
      set_error(r, 400, "contents and generateContentRequest cannot both be set", NULL, NULL);
      return;
    }
    if (cJSON_IsObject(gcr)) contents = cJSON_GetObjectItemCaseSensitive(gcr, "contents");
    if (!cJSON_IsArray(contents)) {
      set_error(r, 400, "* CountTokensRequest.contents: contents is not specified", NULL, NULL);
      return;
    }
    n = 1000 + cJSON_GetArraySize(contents);
  }
  if (r->b.prompt_tokens >= 0) n = r->b.prompt_tokens;
  struct sbuf o = {0};
  if (r->route == RT_ANTH_COUNT)
    sb_printf(&o, "{\"input_tokens\":%ld}\n", n);
  else
    sb_printf(&o, "{\"totalTokens\":%ld,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":%ld}]}\n", n, n);
  r->status = 200;
  r->resp = sb_steal(&o, &r->resp_len);
}

/* One EmbedContentRequest's values into o: its text parts hashed as /v1/embeddings does, in
 * outputDimensionality dimensions (8 by default). false with an error set when it has no text. */
static bool gemini_embedding(struct req *r, const cJSON *ecr, struct sbuf *o)
{
  const cJSON *parts = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ecr, "content"), "parts");
  const cJSON *p, *t = NULL;
  cJSON_ArrayForEach(p, parts) if (!t && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(p, "text")))
    t = cJSON_GetObjectItemCaseSensitive(p, "text");
  if (!t) {
    set_error(r, 400, "* EmbedContentRequest.content: contents is not specified", NULL, NULL);
    return false;
  }
  long dims = EMBED_DIMS;
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(ecr, "outputDimensionality");
  if (cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= MAX_EMBED_DIMS) dims = (long)d->valuedouble;
  uint64_t h = fnv1a(t->valuestring, 1469598103934665603u);
  sb_puts(o, "{\"values\":[");
  for (long k = 0; k < dims; k++) sb_printf(o, "%s%.6f", k ? "," : "", embed_value(h, k));
  sb_puts(o, "]}");
  return true;
}

/* :embedContent -> {"embedding":{"values":[...]}}; :batchEmbedContents -> {"embeddings":[...]},
 * each request naming the path's model as "models/M" as Google requires
 * (https://ai.google.dev/api/embeddings; googleapis/js-genai src/types.ts EmbedContentResponse). */
static void prepare_gemini_embed(struct req *r, const char *url)
{
  const char *m = url + strlen(GEMINI_PREFIX);
  size_t mlen = (size_t)(strrchr(m, ':') - m);
  struct sbuf o = {0};
  if (r->route == RT_GEM_EMBED) {
    sb_puts(&o, "{\"embedding\":");
    if (!gemini_embedding(r, r->doc, &o)) {
      sb_free(&o);
      return;
    }
  } else {
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(r->doc, "requests"), *q;
    if (!cJSON_IsArray(reqs) || !reqs->child) {
      set_error(r, 400, "* BatchEmbedContentsRequest.requests: requests is not specified", NULL, NULL);
      return;
    }
    sb_puts(&o, "{\"embeddings\":[");
    bool first = true;
    cJSON_ArrayForEach(q, reqs)
    {
      const cJSON *qm = cJSON_GetObjectItemCaseSensitive(q, "model");
      if (!cJSON_IsString(qm) || strncmp(qm->valuestring, "models/", 7) != 0 ||
          strlen(qm->valuestring + 7) != mlen || strncmp(qm->valuestring + 7, m, mlen) != 0) {
        set_error(r, 400, "* BatchEmbedContentsRequest.requests[].model: the model of every request must be "
                  "the model of the URL, as models/{model}", NULL, NULL);
        sb_free(&o);
        return;
      }
      if (!first) sb_puts(&o, ",");
      first = false;
      if (!gemini_embedding(r, q, &o)) {
        sb_free(&o);
        return;
      }
    }
    sb_puts(&o, "]");
  }
  sb_puts(&o, "}\n");
  r->status = 200;
  r->resp = sb_steal(&o, &r->resp_len);
}

/* Decides the answer once the whole request is in. Sets r->status/resp, r->stream or
 * r->hang_up. */
/* ------------------------------------------------------------------------------------------ */
/* replay: mock.replay answers any endpoint with a recorded body, byte for byte                  */

/* Reads a regular file of at most limit bytes into *out (NUL-terminated, *len bytes). */
static bool read_file_bounded(const char *path, long limit, char **out, size_t *len, char *err, size_t errlen)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "mock.replay.file '%.300s': %s", path, strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "mock.replay.file '%.300s' is not a regular file", path);
    fclose(f);
    return false;
  }
  if (st.st_size > limit) {
    snprintf(err, errlen, "mock.replay.file '%.300s' has %lld bytes, more than the limit of %ld", path,
             (long long)st.st_size, limit);
    fclose(f);
    return false;
  }
  /* read up to limit + 1 bytes whatever fstat said: a file that grew is refused too */
  size_t cap = (size_t)st.st_size + 1, n = 0;
  char *buf = xrealloc(NULL, cap + 1);
  for (;;) {
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (n > (size_t)limit) {
      snprintf(err, errlen, "mock.replay.file '%.300s' has more than %ld bytes", path, limit);
      free(buf);
      fclose(f);
      return false;
    }
    if (k == 0 || n < cap) {
      if (ferror(f)) {
        snprintf(err, errlen, "mock.replay.file '%.300s': read error", path);
        free(buf);
        fclose(f);
        return false;
      }
      if (feof(f)) break;
      continue;
    }
    cap = cap * 2 > (size_t)limit + 1 ? (size_t)limit + 1 : cap * 2;
    buf = xrealloc(buf, cap + 1);
  }
  fclose(f);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return true;
}

/* Loads r->b.replay's file and options into r (r->replay); a bad file answers 400 mock_invalid. */
static void prepare_replay(struct req *r)
{
  char err[512];
  struct replay_opts o;
  if (!replay_parse(r->b.replay, &o, err, sizeof err) ||
      !read_file_bounded(o.file, REPLAY_LIMIT, &r->rp_body, &r->rp_len, err, sizeof err)) {
    r->b.replay = NULL;
    set_error(r, 400, err, "invalid_request_error", "mock_invalid");
    return;
  }
  r->replay = true;
  r->status = o.status;
  r->rp_ctype = xstrdup(o.ctype);
  r->rp_stop = r->rp_len;
  if (o.stop_after_bytes >= 0 && (size_t)o.stop_after_bytes < r->rp_len) r->rp_stop = (size_t)o.stop_after_bytes;
  r->rp_cut = o.stop_after_bytes >= 0;
  r->rp_chunk = o.chunk_bytes > 0 ? (size_t)o.chunk_bytes : r->rp_cut ? STREAM_BLOCK : 0;
  r->rp_fb_pending = r->b.first_byte_ms > 0;
  r->b.replay = NULL; /* it may point into a parsed body or form that goes before the answer */
}

/* Pieces of rp_chunk bytes, one per call (so one HTTP chunk each unless MHD's buffer is smaller),
 * first_byte_ms before the first and chunk_gap_ms between them; after rp_stop bytes either the
 * clean end or, with stop_after_bytes, a close with no end of body. */
static ssize_t replay_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  (void)pos;
  struct req *r = cls;
  bool live = !atomic_load_explicit(&g_shutting, memory_order_relaxed);
  if (r->rp_off >= r->rp_stop) {
    if (!r->rp_cut) return MHD_CONTENT_READER_END_OF_STREAM;
    if (!r->rp_cut_armed) { /* the same suspend/resume bounce as stream_reader's cut */
      r->rp_cut_armed = true;
      MHD_suspend_connection(r->conn);
      MHD_resume_connection(r->conn);
      return 0;
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  if (live && r->rp_fb_pending) {
    r->rp_fb_pending = false;
    suspend_for(r->conn, r->b.first_byte_ms);
    return 0;
  }
  if (live && r->rp_gap_pending) {
    r->rp_gap_pending = false;
    suspend_for(r->conn, r->b.chunk_gap_ms);
    return 0;
  }
  size_t k = r->rp_chunk - r->rp_off % r->rp_chunk; /* what is left of this piece */
  if (k > r->rp_stop - r->rp_off) k = r->rp_stop - r->rp_off;
  if (k > max) k = max;
  memcpy(buf, r->rp_body + r->rp_off, k);
  r->rp_off += k;
  r->rp_gap_pending = r->b.chunk_gap_ms > 0 && r->rp_off % r->rp_chunk == 0 && r->rp_off < r->rp_stop;
  return (ssize_t)k;
}

static enum MHD_Result replay_answer(struct req *r)
{
  struct MHD_Response *resp;
  if (r->rp_chunk == 0) {
    resp = MHD_create_response_from_buffer(r->rp_len, r->rp_body, MHD_RESPMEM_MUST_FREE);
    if (resp) r->rp_body = NULL; /* MHD owns it now */
  } else {
    size_t block = r->rp_chunk < STREAM_BLOCK ? r->rp_chunk : STREAM_BLOCK;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block, replay_reader, r, NULL);
  }
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->rp_ctype);
  add_extra_headers(resp, r->b.headers);
  enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* media endpoints: Responses API, images, audio, moderations, rerank                          */

static enum route media_route(const char *url)
{
  static const struct {
    const char *path;
    enum route rt;
  } t[] = {
      {"/v1/responses", RT_RESPONSES},          {"/v1/images/generations", RT_IMAGES_GEN},
      {"/v1/images/edits", RT_IMAGES_EDIT},     {"/v1/audio/speech", RT_SPEECH},
      {"/v1/audio/transcriptions", RT_TRANSCRIBE}, {"/v1/audio/translations", RT_TRANSLATE},
      {"/v1/moderations", RT_MODERATIONS},      {"/v1/rerank", RT_RERANK},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (strcmp(url, t[i].path) == 0) return t[i].rt;
  return RT_NOT_FOUND;
}

static void sha256_hex(struct sbuf *b, const void *p, size_t n)
{
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(p, n, md);
  char hex[2 * SHA256_DIGEST_LENGTH + 3];
  hex[0] = '"';
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) snprintf(hex + 1 + 2 * i, 3, "%02x", md[i]);
  hex[2 * SHA256_DIGEST_LENGTH + 1] = '"';
  hex[2 * SHA256_DIGEST_LENGTH + 2] = '\0';
  sb_puts(b, hex);
}

static enum MHD_Result form_it(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                               const char *content_type, const char *transfer_encoding, const char *data,
                               uint64_t off, size_t size)
{
  (void)kind;
  (void)transfer_encoding;
  struct form *f = cls;
  if (!key) return MHD_YES;
  struct form_part *last = f->n ? &f->part[f->n - 1] : NULL;
  if (!last || off == 0 || strcmp(last->name, key) != 0) {
    if (f->n == FORM_PARTS_MAX) {
      f->bad = true;
      return MHD_NO;
    }
    last = &f->part[f->n++];
    memset(last, 0, sizeof *last);
    last->name = xstrdup(key);
    last->filename = filename ? xstrdup(filename) : NULL;
    last->ctype = content_type ? xstrdup(content_type) : NULL;
  }
  sb_put(&last->data, data, size);
  return MHD_YES;
}

/* Parses a multipart body with MHD's post processor; never NULL (bad marks a broken form). */
static struct form *form_parse(struct MHD_Connection *c, const char *body, size_t len)
{
  struct form *f = xcalloc(1, sizeof *f);
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  struct MHD_PostProcessor *pp = ct && strncasecmp(ct, "multipart/form-data", 19) == 0
                                     ? MHD_create_post_processor(c, 4096, form_it, f)
                                     : NULL;
  if (!pp) {
    f->bad = true;
    return f;
  }
  if ((len && MHD_post_process(pp, body, len) != MHD_YES) || !len) f->bad = true;
  if (MHD_destroy_post_processor(pp) != MHD_YES) f->bad = true;
  return f;
}

/* The text value of a form field (NUL-terminated), or NULL. */
static const char *form_value(struct form *f, const char *name)
{
  for (int i = 0; f && i < f->n; i++)
    if (strcmp(f->part[i].name, name) == 0 && !f->part[i].filename) {
      sb_put(&f->part[i].data, "", 1); /* terminate, then hide the NUL again */
      f->part[i].data.len--;
      return f->part[i].data.p;
    }
  return NULL;
}

static long form_files(const struct form *f, const char *a, const char *b, size_t *bytes)
{
  long n = 0;
  *bytes = 0;
  for (int i = 0; f && i < f->n; i++)
    if (f->part[i].filename && (strcmp(f->part[i].name, a) == 0 || (b && strcmp(f->part[i].name, b) == 0))) {
      n++;
      *bytes += f->part[i].data.len;
    }
  return n;
}

/* {"name": "value", "file": {"filename","content_type","bytes","sha256"}, ...} */
static void form_json(struct sbuf *b, const struct form *f)
{
  sb_puts(b, "{");
  for (int i = 0; i < f->n; i++) {
    const struct form_part *p = &f->part[i];
    if (i) sb_puts(b, ",");
    sb_json_str(b, p->name);
    sb_puts(b, ":");
    if (p->filename) {
      sb_puts(b, "{\"filename\":");
      sb_json_str(b, p->filename);
      sb_puts(b, ",\"content_type\":");
      sb_json_str(b, p->ctype ? p->ctype : "");
      sb_printf(b, ",\"bytes\":%zu,\"sha256\":", p->data.len);
      sha256_hex(b, p->data.p ? p->data.p : "", p->data.len);
      sb_puts(b, "}");
    } else {
      char *v = xrealloc(NULL, p->data.len + 1);
      if (p->data.len) memcpy(v, p->data.p, p->data.len);
      v[p->data.len] = '\0';
      sb_json_str(b, v);
      free(v);
    }
  }
  if (f->bad) sb_printf(b, "%s\"__bad\":true", f->n ? "," : "");
  sb_puts(b, "}");
}

static bool is_form_route(enum route rt)
{
  return rt == RT_IMAGES_EDIT || rt == RT_TRANSCRIBE || rt == RT_TRANSLATE;
}

/* A Responses API function_call output item (mock.agent's turn 1), whole or (done false) as
 * output_item.added announces it, its arguments still empty. */
static void response_call_item(struct sbuf *o, const struct req *r, bool done)
{
  sb_printf(o, "{\"id\":\"fc_mock\",\"type\":\"function_call\",\"status\":\"%s\",\"call_id\":\"call_mock\","
               "\"name\":%s,\"arguments\":\"", done ? "completed" : "in_progress", r->tool_name_json);
  if (done) {
    sb_args_piece(o, r, 0);
    sb_args_piece(o, r, 1);
  }
  sb_puts(o, "\"}");
}

/* A Responses API object (status completed or in_progress). */
static void response_object(struct sbuf *o, struct req *r, bool done)
{
  const struct behaviour *b = &r->b;
  sb_printf(o, "{\"id\":\"resp_mock\",\"object\":\"response\",\"created_at\":%lld,\"status\":\"%s\","
               "\"error\":null,\"incomplete_details\":null,\"model\":%s,\"output\":[",
            r->created, done ? "completed" : "in_progress", r->model_json);
  if (done && r->tool) {
    response_call_item(o, r, true);
  } else if (done) {
    sb_puts(o, "{\"id\":\"msg_mock\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\","
               "\"content\":[{\"type\":\"output_text\",\"text\":\"");
    sb_words(o, r);
    sb_puts(o, "\",\"annotations\":[]}]}");
  }
  sb_puts(o, "],\"usage\":");
  if (done && !b->no_usage) {
    long cached = b->cached_tokens < r->prompt_tokens ? b->cached_tokens : r->prompt_tokens;
    sb_printf(o, "{\"input_tokens\":%ld,\"input_tokens_details\":{\"cached_tokens\":%ld},\"output_tokens\":%ld,"
                 "\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":%ld}",
              r->prompt_tokens, cached, r->completion_tokens, r->prompt_tokens + r->completion_tokens);
  } else {
    sb_puts(o, "null");
  }
  sb_puts(o, "}");
}

__attribute__((format(printf, 3, 4))) static void ev_responses(struct req *r, const char *name, const char *fmt, ...)
{
  sb_printf(&r->ev, "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%ld", name, name, r->seq++);
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&r->ev, fmt, ap);
  va_end(ap);
  sb_puts(&r->ev, "}\n\n");
}

/* The next event of a Responses API stream. */
static void responses_next(struct req *r)
{
  const struct behaviour *b = &r->b;
  struct sbuf t = {0};
  switch (r->st) {
  case SS_R_CREATED:
  case SS_R_PROGRESS:
  case SS_R_COMPLETED:
    response_object(&t, r, r->st == SS_R_COMPLETED);
    ev_responses(r, r->st == SS_R_CREATED ? "response.created" : r->st == SS_R_PROGRESS ? "response.in_progress"
                                                                                        : "response.completed",
                 ",\"response\":%s", t.p);
    if (r->st == SS_R_COMPLETED) r->ended = true;
    r->st = r->st == SS_R_CREATED ? SS_R_PROGRESS : r->st == SS_R_PROGRESS ? SS_R_ITEM_ADDED : SS_END;
    break;
  case SS_R_ITEM_ADDED:
    if (r->tool) { /* a function call: added, its arguments in two deltas, done, then the item */
      response_call_item(&t, r, false);
      ev_responses(r, "response.output_item.added", ",\"output_index\":0,\"item\":%s", t.p);
      r->st = SS_R_DELTA;
      break;
    }
    ev_responses(r, "response.output_item.added", ",\"output_index\":0,\"item\":{\"id\":\"msg_mock\",\"type\":"
                 "\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}");
    r->st = SS_R_PART_ADDED;
    break;
  case SS_R_PART_ADDED:
    ev_responses(r, "response.content_part.added", ",\"item_id\":\"msg_mock\",\"output_index\":0,"
                 "\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}");
    r->st = SS_R_DELTA;
    r->gap_pending = b->chunk_gap_ms > 0;
    break;
  case SS_R_DELTA:
    if (r->tool && r->content_sent >= 2) {
      sb_args_piece(&t, r, 0);
      sb_args_piece(&t, r, 1);
      ev_responses(r, "response.function_call_arguments.done", ",\"item_id\":\"fc_mock\",\"output_index\":0,"
                   "\"arguments\":\"%s\"", t.p);
      r->st = SS_R_ITEM_DONE;
      break;
    }
    if (r->tool) {
      sb_args_piece(&t, r, (int)r->content_sent);
      ev_responses(r, "response.function_call_arguments.delta", ",\"item_id\":\"fc_mock\",\"output_index\":0,"
                   "\"delta\":\"%s\"", t.p ? t.p : "");
      r->content_sent++;
      break;
    }
    if (r->content_sent >= b->chunks) {
      r->st = SS_R_TEXT_DONE;
      break;
    }
    ev_responses(r, "response.output_text.delta", ",\"item_id\":\"msg_mock\",\"output_index\":0,"
                 "\"content_index\":0,\"delta\":\"%s\"", rword(r));
    r->content_sent++;
    r->gap_pending = b->chunk_gap_ms > 0 && r->content_sent < b->chunks;
    break;
  case SS_R_TEXT_DONE:
  case SS_R_PART_DONE:
  case SS_R_ITEM_DONE:
    if (r->tool) {
      response_call_item(&t, r, true);
      ev_responses(r, "response.output_item.done", ",\"output_index\":0,\"item\":%s", t.p);
      r->st = SS_R_COMPLETED;
      break;
    }
    sb_words(&t, r);
    sb_put(&t, "", 1);
    if (r->st == SS_R_TEXT_DONE)
      ev_responses(r, "response.output_text.done", ",\"item_id\":\"msg_mock\",\"output_index\":0,"
                   "\"content_index\":0,\"text\":\"%s\"", t.p);
    else if (r->st == SS_R_PART_DONE)
      ev_responses(r, "response.content_part.done", ",\"item_id\":\"msg_mock\",\"output_index\":0,"
                   "\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"%s\",\"annotations\":[]}", t.p);
    else
      ev_responses(r, "response.output_item.done", ",\"output_index\":0,\"item\":{\"id\":\"msg_mock\",\"type\":"
                   "\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":"
                   "\"output_text\",\"text\":\"%s\",\"annotations\":[]}]}", t.p);
    r->st = r->st == SS_R_TEXT_DONE ? SS_R_PART_DONE : r->st == SS_R_PART_DONE ? SS_R_ITEM_DONE : SS_R_COMPLETED;
    break;
  default:
    r->ended = true;
    break;
  }
  sb_free(&t);
}

static void images_answer(struct req *r, const char *model, long n, const char *format)
{
  bool gpt_image = strncmp(model, "gpt-image", 9) == 0;
  bool b64 = gpt_image || (format && strcmp(format, "b64_json") == 0);
  struct sbuf o = {0};
  sb_printf(&o, "{\"created\":%lld,\"data\":[", (long long)time(NULL));
  for (long i = 0; i < n; i++) {
    char img[32];
    int len = snprintf(img, sizeof img, "\x89PNG mock image %ld", i);
    sb_puts(&o, i ? ",{" : "{");
    if (b64) {
      sb_puts(&o, "\"b64_json\":\"");
      base64_append(&o, (const unsigned char *)img, (size_t)len);
      sb_puts(&o, "\"");
    } else {
      sb_printf(&o, "\"url\":\"https://mock.invalid/images/%ld.png\"", i);
    }
    if (!gpt_image) sb_puts(&o, ",\"revised_prompt\":\"a mock image\"");
    sb_puts(&o, "}");
  }
  sb_puts(&o, "]");
  if (gpt_image && !r->b.no_usage) {
    long in = r->b.prompt_tokens >= 0 ? r->b.prompt_tokens : 10 + r->b.cached_tokens;
    long out = r->b.completion_tokens >= 0 ? r->b.completion_tokens : n * 272;
    sb_printf(&o, ",\"usage\":{\"input_tokens\":%ld,\"input_tokens_details\":{\"text_tokens\":%ld,\"image_tokens\":0},"
                  "\"output_tokens\":%ld,\"total_tokens\":%ld}", in, in, out, in + out);
  }
  if (r->form) {
    sb_puts(&o, ",\"mock_form\":");
    form_json(&o, r->form);
  }
  sb_puts(&o, "}\n");
  r->status = 200;
  r->resp = sb_steal(&o, &r->resp_len);
}

static void speech_answer(struct req *r, const char *input, const char *format)
{
  static const struct { const char *fmt, *ctype; } types[] = {
      {"mp3", "audio/mpeg"}, {"opus", "audio/ogg"}, {"aac", "audio/aac"},
      {"flac", "audio/flac"}, {"wav", "audio/wav"},  {"pcm", "audio/pcm"},
  };
  r->ctype = "audio/mpeg";
  for (size_t i = 0; format && i < sizeof types / sizeof types[0]; i++)
    if (strcmp(format, types[i].fmt) == 0) r->ctype = types[i].ctype;
  size_t len = strlen(input), n = 5 + 100 + len;
  char *a = xrealloc(NULL, n);
  memcpy(a, "ID3\4\0", 5);
  for (size_t i = 0; i < 100 + len; i++) a[5 + i] = (char)((i * 7 + len) & 0xff);
  r->status = 200;
  r->resp = a;
  r->resp_len = n;
}

static void transcript_answer(struct req *r, const char *model, size_t file_bytes, const char *format)
{
  const struct behaviour *b = &r->b;
  double duration = (double)file_bytes / 1000.0;
  struct sbuf text = {0}, o = {0};
  for (long i = 0; i < b->chunks; i++) sb_put(&text, WORD, sizeof WORD - 1);
  sb_put(&text, "", 1);
  bool tokens = strncmp(model, "gpt-4o", 6) == 0;
  if (format && (strcmp(format, "text") == 0 || strcmp(format, "srt") == 0 || strcmp(format, "vtt") == 0)) {
    if (strcmp(format, "srt") == 0) sb_printf(&o, "1\n00:00:00,000 --> 00:00:%02d,000\n%s\n\n", (int)duration % 60, text.p);
    else if (strcmp(format, "vtt") == 0) sb_printf(&o, "WEBVTT\n\n00:00:00.000 --> 00:00:%02d.000\n%s\n\n", (int)duration % 60, text.p);
    else sb_printf(&o, "%s\n", text.p);
    r->ctype = "text/plain; charset=utf-8";
  } else if (format && strcmp(format, "verbose_json") == 0) {
    sb_printf(&o, "{\"task\":\"%s\",\"language\":\"english\",\"duration\":%.3f,\"text\":\"%s\",\"segments\":"
                  "[{\"id\":0,\"start\":0.0,\"end\":%.3f,\"text\":\"%s\"}]}\n",
              r->route == RT_TRANSLATE ? "translate" : "transcribe", duration, text.p, duration, text.p);
  } else {
    sb_printf(&o, "{\"text\":\"%s\"", text.p);
    if (!b->no_usage && tokens) {
      long in = b->prompt_tokens >= 0 ? b->prompt_tokens : (long)ceil(duration) * 10;
      long out = b->completion_tokens >= 0 ? b->completion_tokens : b->chunks;
      sb_printf(&o, ",\"usage\":{\"type\":\"tokens\",\"input_tokens\":%ld,\"input_token_details\":{\"text_tokens\":0,"
                    "\"audio_tokens\":%ld},\"output_tokens\":%ld,\"total_tokens\":%ld}", in, in, out, in + out);
    } else if (!b->no_usage) {
      sb_printf(&o, ",\"usage\":{\"type\":\"duration\",\"seconds\":%ld}", (long)ceil(duration));
    }
    sb_puts(&o, "}\n");
  }
  sb_free(&text);
  r->status = 200;
  r->resp = sb_steal(&o, &r->resp_len);
}

static void rerank_answer(struct req *r, const char *model, const cJSON *docs, long top_n, bool return_docs,
                          const char *query)
{
  long n = cJSON_GetArraySize(docs);
  if (top_n <= 0 || top_n > n) top_n = n;
  long *idx = xcalloc((size_t)n, sizeof *idx);
  double *score = xcalloc((size_t)n, sizeof *score);
  for (long i = 0; i < n; i++) {
    const cJSON *d = cJSON_GetArrayItem(docs, (int)i);
    const cJSON *t = cJSON_IsObject(d) ? cJSON_GetObjectItemCaseSensitive(d, "text") : d;
    bool hit = cJSON_IsString(t) && *query && strcasestr(t->valuestring, query);
    idx[i] = i;
    score[i] = (hit ? 0.9 : 0.1) / (1.0 + (double)i * 0.01);
  }
  for (long i = 1; i < n; i++) /* insertion sort, best first */
    for (long j = i; j > 0 && score[idx[j]] > score[idx[j - 1]]; j--) {
      long x = idx[j];
      idx[j] = idx[j - 1];
      idx[j - 1] = x;
    }
  bool jina = strncmp(model, "jina", 4) == 0;
  struct sbuf o = {0};
  if (jina) {
    long tok = r->b.prompt_tokens >= 0 ? r->b.prompt_tokens : 10 + 5 * n;
    sb_printf(&o, "{\"model\":%s,\"usage\":{\"total_tokens\":%ld,\"prompt_tokens\":%ld},\"results\":[", r->model_json,
              tok, tok);
  } else {
    sb_puts(&o, "{\"id\":\"mock-rerank\",\"results\":[");
  }
  for (long k = 0; k < top_n; k++) {
    const cJSON *d = cJSON_GetArrayItem(docs, (int)idx[k]);
    const cJSON *t = cJSON_IsObject(d) ? cJSON_GetObjectItemCaseSensitive(d, "text") : d;
    sb_printf(&o, "%s{\"index\":%ld,", k ? "," : "", idx[k]);
    if (return_docs && cJSON_IsString(t)) {
      sb_puts(&o, "\"document\":{\"text\":");
      sb_json_str(&o, t->valuestring);
      sb_puts(&o, "},");
    }
    sb_printf(&o, "\"relevance_score\":%.6f}", score[idx[k]]);
  }
  if (jina) sb_puts(&o, "]}\n");
  else
    sb_printf(&o, "],\"meta\":{\"api_version\":{\"version\":\"1\"},\"billed_units\":{\"search_units\":%ld}}}\n",
              (n + 99) / 100);
  free(idx);
  free(score);
  r->status = 200;
  r->resp = sb_steal(&o, &r->resp_len);
}

/* Answers the media routes (after the common checks of prepare()). */
static void prepare_media(struct req *r, const char *url)
{
  char err[256];
  const cJSON *m = NULL;
  cJSON *form_mock = NULL;
  if (is_form_route(r->route)) {
    if (!r->form || r->form->bad) {
      set_error(r, 400, "Could not parse multipart form", "invalid_request_error", NULL);
      return;
    }
    const char *mj = form_value(r->form, "mock");
    if (mj && !(m = form_mock = cJSON_Parse(mj))) {
      set_error(r, 400, "the form field mock is not valid JSON", "invalid_request_error", "mock_invalid");
      return;
    }
  } else {
    if (!cJSON_IsObject(r->doc)) {
      set_error(r, 400,
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly.)",
                "invalid_request_error", NULL);
      return;
    }
    m = cJSON_GetObjectItemCaseSensitive(r->doc, "mock");
  }
  bool ok = (!m || apply_mock(&r->b, m, err, sizeof err)) && (!r->xmock || apply_mock(&r->b, r->xmock, err, sizeof err));
  if (ok && r->b.replay) { /* read it before form_mock (which it may point into) goes */
    prepare_replay(r);
    cJSON_Delete(form_mock);
    return;
  }
  cJSON_Delete(form_mock);   /* apply_mock keeps no pointer into it but "headers" */
  if (!ok) {
    set_error(r, 400, err, "invalid_request_error", "mock_invalid");
    return;
  }
  if (form_mock) r->b.headers = NULL;
  struct MHD_Connection *c = r->conn;
  if (r->azure && (!has_value(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "api-key")) ||
                   !has_value(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "api-version")))) {
    set_error(r, 401, "Access denied due to invalid subscription key or wrong API endpoint.", "invalid_request_error",
              "401");
    return;
  }
  if (!r->azure && !has_value(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "authorization"))) {
    set_error(r, 401, "You didn't provide an API key.", "invalid_request_error", "missing_api_key");
    return;
  }
  if (r->b.status != 200) {
    snprintf(err, sizeof err, "mock error %d", r->b.status);
    char code[32];
    snprintf(code, sizeof code, "mock_%d", r->b.status);
    set_error(r, r->b.status, err, "mock_error", code);
    return;
  }
  /* the model: the body's, else (Azure) the deployment in the path */
  const char *model = r->form ? form_value(r->form, "model")
                              : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->doc, "model"));
  char dep[128] = "";
  if (r->azure && strncmp(url, AZURE_PREFIX, strlen(AZURE_PREFIX)) == 0) {
    const char *d = url + strlen(AZURE_PREFIX);
    snprintf(dep, sizeof dep, "%.*s", (int)strcspn(d, "/"), d);
  }
  if (!model || !*model) model = dep[0] ? dep : r->route == RT_MODERATIONS ? "omni-moderation-latest" : NULL;
  if (!model) {
    set_error(r, 400, "you must provide a model parameter", "invalid_request_error", NULL);
    return;
  }
  struct sbuf mj = {0};
  sb_json_str(&mj, model);
  r->model_json = sb_steal(&mj, NULL);
  r->created = (long long)time(NULL);
  const cJSON *doc = r->doc;
  switch (r->route) {
  case RT_RESPONSES: {
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(doc, "input");
    if (!input) {
      set_error(r, 400, "Missing required parameter: 'input'.", "invalid_request_error", "missing_required_parameter");
      return;
    }
    r->prompt_tokens = r->b.prompt_tokens >= 0 ? r->b.prompt_tokens
                       : 10 + count_items(input) + (cJSON_GetObjectItemCaseSensitive(doc, "instructions") ? 1 : 0);
    agent_turn(r);
    r->completion_tokens = r->b.completion_tokens >= 0 ? r->b.completion_tokens : r->b.chunks;
    r->status = 200;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "stream"))) {
      r->stream = true;
      r->st = SS_R_CREATED;
      r->fb_pending = r->b.first_byte_ms > 0;
      return;
    }
    if (r->b.disconnect_after >= 0) {
      r->hang_up = true;
      return;
    }
    struct sbuf o = {0};
    response_object(&o, r, true);
    sb_puts(&o, "\n");
    r->resp = sb_steal(&o, &r->resp_len);
    return;
  }
  case RT_IMAGES_GEN:
  case RT_IMAGES_EDIT: {
    const char *prompt = r->form ? form_value(r->form, "prompt")
                                 : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "prompt"));
    const char *fmt = r->form ? form_value(r->form, "response_format")
                              : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "response_format"));
    long n = 1;
    if (r->form && form_value(r->form, "n")) n = strtol(form_value(r->form, "n"), NULL, 10);
    else if (!r->form && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(doc, "n")))
      n = (long)cJSON_GetObjectItemCaseSensitive(doc, "n")->valuedouble;
    size_t bytes;
    if (!prompt || !*prompt) {
      set_error(r, 400, "Missing required parameter: 'prompt'.", "invalid_request_error", "missing_required_parameter");
    } else if (n < 1 || n > 10) {
      set_error(r, 400, "n must be from 1 to 10", "invalid_request_error", "invalid_value");
    } else if (r->route == RT_IMAGES_EDIT && form_files(r->form, "image", "image[]", &bytes) == 0) {
      set_error(r, 400, "Missing required parameter: 'image'.", "invalid_request_error", "missing_required_parameter");
    } else {
      images_answer(r, model, n, fmt);
    }
    return;
  }
  case RT_SPEECH: {
    const char *input = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "input"));
    if (!input || !cJSON_GetObjectItemCaseSensitive(doc, "voice")) {
      set_error(r, 400, "Missing required parameter: 'input' or 'voice'.", "invalid_request_error",
                "missing_required_parameter");
      return;
    }
    speech_answer(r, input, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "response_format")));
    return;
  }
  case RT_TRANSCRIBE:
  case RT_TRANSLATE: {
    size_t bytes;
    if (form_files(r->form, "file", NULL, &bytes) != 1) {
      set_error(r, 400, "Missing required parameter: 'file'.", "invalid_request_error", "missing_required_parameter");
      return;
    }
    transcript_answer(r, model, bytes, form_value(r->form, "response_format"));
    return;
  }
  case RT_MODERATIONS: {
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(doc, "input");
    long n = count_items(input);
    if (n == 0) {
      set_error(r, 400, "Missing required parameter: 'input'.", "invalid_request_error", "missing_required_parameter");
      return;
    }
    struct sbuf o = {0};
    sb_printf(&o, "{\"id\":\"modr-mock\",\"model\":%s,\"results\":[", r->model_json);
    for (long i = 0; i < n; i++)
      sb_printf(&o, "%s{\"flagged\":false,\"categories\":{\"harassment\":false,\"hate\":false,\"violence\":false},"
                    "\"category_scores\":{\"harassment\":0.0001,\"hate\":0.0001,\"violence\":0.0002}}", i ? "," : "");
    sb_puts(&o, "]}\n");
    r->status = 200;
    r->resp = sb_steal(&o, &r->resp_len);
    return;
  }
  case RT_RERANK: {
    const char *query = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "query"));
    const cJSON *docs = cJSON_GetObjectItemCaseSensitive(doc, "documents");
    const cJSON *top = cJSON_GetObjectItemCaseSensitive(doc, "top_n");
    if (!query || !cJSON_IsArray(docs) || cJSON_GetArraySize(docs) == 0) {
      set_error(r, 400, "invalid request: query and a non-empty documents array are required", "invalid_request_error",
                NULL);
      return;
    }
    rerank_answer(r, model, docs, cJSON_IsNumber(top) ? (long)top->valuedouble : 0,
                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "return_documents")), query);
    return;
  }
  default:
    set_error(r, 404, "unknown media route", "invalid_request_error", "unknown_url");
    return;
  }
}

/* The key the request came with (Bearer stripped), or NULL. */
static const char *received_key(struct req *r)
{
  const char *k = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "authorization");
  if (!k) k = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "x-api-key");
  if (!k) k = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "x-goog-api-key");
  if (!k) k = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "api-key");
  if (!k) k = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "key");
  if (k && strncmp(k, "Bearer ", 7) == 0) k += 7;
  return k;
}

/* Is key one of the comma-separated keys of list (each compared whole)? */
static bool key_rejected(const char *list, const char *key)
{
  size_t kl = key ? strlen(key) : 0;
  while (kl && list && *list) {
    size_t n = strcspn(list, ",");
    if (n == kl && memcmp(list, key, n) == 0) return true;
    list += n;
    if (*list == ',') list++;
  }
  return false;
}

/* reject_field: the 400 each real API gives a request with an unknown top-level field, quoting
 * its name (OpenAI "Unrecognized request argument supplied: F", Anthropic "F: Extra inputs are not
 * permitted", Gemini "Invalid JSON payload received. Unknown name \"F\": Cannot find field."). */
static void reject_field(struct req *r, const char *field)
{
  struct sbuf m = {0};
  free(r->resp);
  r->status = 400;
  r->stream = false;
  if (r->dialect == DL_GEMINI) {
    sb_printf(&m, "Invalid JSON payload received. Unknown name \"%s\": Cannot find field.", field);
    struct sbuf b = {0};
    sb_puts(&b, "{\"error\":{\"code\":400,\"message\":");
    sb_json_str(&b, m.p);
    sb_puts(&b, ",\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":\"type.googleapis.com/"
                "google.rpc.BadRequest\",\"fieldViolations\":[{\"description\":");
    sb_json_str(&b, m.p);
    sb_puts(&b, "}]}]}}\n");
    r->resp = sb_steal(&b, &r->resp_len);
  } else if (r->dialect == DL_ANTHROPIC) {
    sb_printf(&m, "%s: Extra inputs are not permitted", field);
    r->resp = error_json_d(r->dialect, 400, m.p, NULL, NULL, &r->resp_len);
  } else {
    sb_printf(&m, "Unrecognized request argument supplied: %s", field);
    r->resp = error_json_d(r->dialect, 400, m.p, "invalid_request_error", NULL, &r->resp_len);
  }
  sb_free(&m);
}

/* strict: the request rules of the real APIs that relay's converted requests must keep, each
 * refused with the API's own 400 wording:
 *  - Anthropic Messages: with thinking enabled the last assistant turn's tool calls follow its
 *    signed thinking block (docs.anthropic.com/en/docs/build-with-claude/extended-thinking,
 *    "Preserving thinking blocks"); roles are user and assistant only ("messages: Unexpected role"; the
 *    system prompt is the top-level "system", docs.anthropic.com/en/api/messages); temperature and
 *    top_p together are refused by current models ("`temperature` and `top_p` cannot both be
 *    specified for this model. Please use only one.", docs.anthropic.com/en/docs/about-claude/
 *    models/migrating-to-claude-4).
 *  - OpenAI chat: reasoning models (o1, o3, o4-*, gpt-5 but -chat) refuse max_tokens ("Unsupported
 *    parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens'
 *    instead.") and a temperature other than 1 (platform.openai.com/docs/guides/reasoning); gpt-4*
 *    and gpt-3.5* refuse reasoning_effort.
 *  - Gemini generateContent: function parameters are the Schema object's fields only
 *    (ai.google.dev/api/caching#Schema: "Invalid JSON payload received. Unknown name ..."), and
 *    models before Gemini 3 refuse thinkingLevel ("Thinking level is not supported for this
 *    model.", ai.google.dev/gemini-api/docs/thinking); Gemini 3 refuses a model turn whose first
 *    functionCall has no thoughtSignature (ai.google.dev/gemini-api/docs/thought-signatures). */
static const char *const gemini_schema_fields[] = {
    "type", "format", "title", "description", "nullable", "enum", "items", "minItems", "maxItems",
    "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern",
    "minimum", "maximum", "anyOf", "propertyOrdering", "default", "example", NULL};

static const char *gemini_bad_schema_key(const cJSON *s, int depth)
{
  if (!cJSON_IsObject(s) || depth > 64) return NULL;
  const cJSON *c;
  cJSON_ArrayForEach(c, s)
  {
    bool known = false;
    for (const char *const *f = gemini_schema_fields; *f && !known; f++) known = strcmp(*f, c->string) == 0;
    if (!known) return c->string;
    const char *bad = NULL;
    if (strcmp(c->string, "properties") == 0) {
      const cJSON *p;
      cJSON_ArrayForEach(p, c) if (!bad) bad = gemini_bad_schema_key(p, depth + 1);
    } else if (strcmp(c->string, "items") == 0) {
      bad = gemini_bad_schema_key(c, depth + 1);
    } else if (strcmp(c->string, "anyOf") == 0) {
      const cJSON *p;
      cJSON_ArrayForEach(p, c) if (!bad) bad = gemini_bad_schema_key(p, depth + 1);
    } else if (strcmp(c->string, "type") == 0 && !cJSON_IsString(c)) {
      return "type";
    }
    if (bad) return bad;
  }
  return NULL;
}

static bool openai_reasoning_model(const char *m)
{
  bool o = m[0] == 'o' && m[1] >= '1' && m[1] <= '9' && (m[2] == '\0' || m[2] == '-');
  return o || (strncmp(m, "gpt-5", 5) == 0 && !strstr(m, "-chat"));
}

static bool strict_refusal(struct req *r, const char *url)
{
  const cJSON *doc = r->doc;
  char msg[512];
  if (!cJSON_IsObject(doc)) return false;
  if (r->dialect == DL_ANTHROPIC) {
    const cJSON *m;
    int i = 0;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(doc, "messages"))
    {
      const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
      if (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") && strcmp(role->valuestring, "assistant"))) {
        snprintf(msg, sizeof msg, "messages.%d: Unexpected role \"%.40s\". Allowed roles are \"user\" or \"assistant\". "
                 "For instructions to the model, use the top-level \"system\" parameter.", i,
                 cJSON_IsString(role) ? role->valuestring : "");
        set_error(r, 400, msg, NULL, NULL);
        return true;
      }
      i++;
    }
    /* thinking on: the last assistant turn, when it made tool calls, starts with its thinking */
    const cJSON *tt = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "thinking"), "type");
    const cJSON *last = NULL;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(doc, "messages"))
    {
      const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
      if (cJSON_IsString(role) && strcmp(role->valuestring, "assistant") == 0) last = m;
    }
    const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(last, "content"), *blk;
    const cJSON *blist = cJSON_IsArray(blocks) ? blocks : NULL;
    bool calls = false;
    cJSON_ArrayForEach(blk, blist)
    {
      const cJSON *bt = cJSON_GetObjectItemCaseSensitive(blk, "type");
      calls = calls || (cJSON_IsString(bt) && strcmp(bt->valuestring, "tool_use") == 0);
    }
    const cJSON *ft = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(blocks, 0), "type");
    if (cJSON_IsString(tt) && strcmp(tt->valuestring, "enabled") == 0 && calls &&
        !(cJSON_IsString(ft) && (strcmp(ft->valuestring, "thinking") == 0 || strcmp(ft->valuestring, "redacted_thinking") == 0))) {
      set_error(r, 400, "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. "
                "When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding "
                "the lastmost set of `tool_use` and `tool_result` blocks).", NULL, NULL);
      return true;
    }
    if (cJSON_GetObjectItemCaseSensitive(doc, "temperature") && cJSON_GetObjectItemCaseSensitive(doc, "top_p")) {
      set_error(r, 400, "`temperature` and `top_p` cannot both be specified for this model. Please use only one.",
                NULL, NULL);
      return true;
    }
    return false;
  }
  if (r->dialect == DL_OPENAI && r->route == RT_CHAT) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(doc, "model");
    const char *mn = cJSON_IsString(model) ? model->valuestring : "";
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "temperature");
    if (openai_reasoning_model(mn) && cJSON_GetObjectItemCaseSensitive(doc, "max_tokens")) {
      set_error(r, 400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                "'max_completion_tokens' instead.", "invalid_request_error", "unsupported_parameter");
      return true;
    }
    if (openai_reasoning_model(mn) && cJSON_IsNumber(t) && t->valuedouble != 1) {
      snprintf(msg, sizeof msg, "Unsupported value: 'temperature' does not support %g with this model. Only "
               "the default (1) value is supported.", t->valuedouble);
      set_error(r, 400, msg, "invalid_request_error", "unsupported_value");
      return true;
    }
    if ((strncmp(mn, "gpt-4", 5) == 0 || strncmp(mn, "gpt-3.5", 7) == 0) &&
        cJSON_GetObjectItemCaseSensitive(doc, "reasoning_effort")) {
      set_error(r, 400, "Unrecognized request argument supplied: reasoning_effort", "invalid_request_error", NULL);
      return true;
    }
    return false;
  }
  if (r->dialect == DL_GEMINI) {
    int ti = 0;
    const cJSON *tool;
    cJSON_ArrayForEach(tool, cJSON_GetObjectItemCaseSensitive(doc, "tools"))
    {
      int di = 0;
      const cJSON *d;
      cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(tool, "functionDeclarations"))
      {
        const char *bad = gemini_bad_schema_key(cJSON_GetObjectItemCaseSensitive(d, "parameters"), 0);
        if (bad) {
          snprintf(msg, sizeof msg, "Invalid JSON payload received. Unknown name \"%.64s\" at "
                   "'tools[%d].function_declarations[%d].parameters': Cannot find field.", bad, ti, di);
          set_error(r, 400, msg, NULL, NULL);
          return true;
        }
        di++;
      }
      ti++;
    }
    const char *mp = strstr(url, "/models/");
    bool gemini3 = mp && strncmp(mp + 8, "gemini-", 7) == 0 && atoi(mp + 15) >= 3;
    /* Gemini 3: the first functionCall of each model turn carries its thoughtSignature */
    const cJSON *c, *contents = gemini3 ? cJSON_GetObjectItemCaseSensitive(doc, "contents") : NULL;
    int ci = 0;
    cJSON_ArrayForEach(c, contents)
    {
      const cJSON *role = cJSON_GetObjectItemCaseSensitive(c, "role"), *p;
      const cJSON *parts = cJSON_IsString(role) && strcmp(role->valuestring, "model") == 0
                               ? cJSON_GetObjectItemCaseSensitive(c, "parts") : NULL;
      cJSON_ArrayForEach(p, parts)
      {
        const cJSON *fc = cJSON_GetObjectItemCaseSensitive(p, "functionCall");
        if (!fc) continue;
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(p, "thoughtSignature"))) {
          const cJSON *fname = cJSON_GetObjectItemCaseSensitive(fc, "name");
          snprintf(msg, sizeof msg, "Function call is missing a thought_signature in functionCall parts. This is "
                   "required for tools to work correctly, and missing thought_signature may lead to degraded model "
                   "performance. Additional data, function call `default_api:%.64s` , position %d.",
                   cJSON_IsString(fname) ? fname->valuestring : "", ci + 1);
          set_error(r, 400, msg, NULL, NULL);
          return true;
        }
        break;
      }
      ci++;
    }
    const cJSON *gc = cJSON_GetObjectItemCaseSensitive(doc, "generationConfig");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(gc, "thinkingConfig");
    if (!gemini3 && cJSON_GetObjectItemCaseSensitive(tc, "thinkingLevel")) {
      set_error(r, 400, "Thinking level is not supported for this model.", NULL, NULL);
      return true;
    }
  }
  return false;
}

static void prepare(struct req *r, const char *url)
{
  char err[640];
  pthread_mutex_lock(&defaults_mu);
  r->b = cfg.defaults;
  if (r->b.headers) /* borrowed from defaults_doc, which a later POST may free: copy */
    r->b.headers = r->xmock_headers_copy = cJSON_Duplicate(r->b.headers, 1);
  if (r->b.replay) /* likewise */
    r->b.replay = r->replay_copy = cJSON_Duplicate(r->b.replay, 1);
  if (r->b.agent) /* likewise */
    r->b.agent = r->agent_copy = cJSON_Duplicate(r->b.agent, 1);
  if (r->b.raw) r->b.raw = r->raw_copy = xstrdup(r->b.raw);
  if (r->b.reject_field) r->b.reject_field = r->reject_copy = xstrdup(r->b.reject_field);
  if (r->b.reject_keys) r->b.reject_keys = r->reject_keys_copy = xstrdup(r->b.reject_keys);
  pthread_mutex_unlock(&defaults_mu);
  if (r->too_large) {
    set_error(r, 413, "request body too large", "invalid_request_error", "request_too_large");
    return;
  }
  const char *xm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Mock");
  if (xm && *xm) {
    r->xmock = cJSON_Parse(xm);
    if (!r->xmock) {
      set_error(r, 400, "X-Mock header is not valid JSON", "invalid_request_error", NULL);
      return;
    }
  }
  /* replay from the defaults or X-Mock answers even a request whose body is no JSON (or none) */
  if (!r->doc && !is_form_route(r->route) &&
      (r->b.replay || (r->xmock && cJSON_GetObjectItemCaseSensitive(r->xmock, "replay")))) {
    if (r->xmock && !apply_mock(&r->b, r->xmock, err, sizeof err)) {
      set_error(r, 400, err, "invalid_request_error", "mock_invalid");
      return;
    }
    if (r->b.replay) {
      prepare_replay(r);
      return;
    }
  }
  if (r->route >= RT_RESPONSES && r->route <= RT_RERANK) {
    prepare_media(r, url);
    return;
  }
  bool wants_body = r->route == RT_CHAT || r->route == RT_COMPLETIONS || r->route == RT_EMBEDDINGS ||
                    r->route == RT_MESSAGES || r->route == RT_GEM_GEN || r->route == RT_GEM_STREAM ||
                    r->route == RT_AZURE_CHAT || r->route == RT_ANTH_COUNT || r->route == RT_GEM_COUNT ||
                    r->route == RT_GEM_EMBED || r->route == RT_GEM_BATCH || r->route == RT_BEDROCK ||
                    r->route == RT_BEDROCK_STREAM;
  if (wants_body) {
    if (!r->doc) {
      set_error(r, 400,
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly.)",
                "invalid_request_error", NULL);
      return;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->doc, "mock");
    if (m && !apply_mock(&r->b, m, err, sizeof err)) {
      set_error(r, 400, err, "invalid_request_error", "mock_invalid");
      return;
    }
  }
  if (r->xmock && !apply_mock(&r->b, r->xmock, err, sizeof err)) {
    set_error(r, 400, err, "invalid_request_error", "mock_invalid");
    return;
  }
  if (r->b.replay) { /* before the route, key and status checks: any endpoint */
    prepare_replay(r);
    return;
  }
  if (r->route == RT_NOT_FOUND) {
    snprintf(err, sizeof err, "Unknown request URL: %.200s", url);
    set_error(r, 404, err, "invalid_request_error", "unknown_url");
    return;
  }
  if (r->route == RT_BAD_METHOD) {
    snprintf(err, sizeof err, "Method not allowed for %.200s", url);
    set_error(r, 405, err, "invalid_request_error", "method_not_allowed");
    return;
  }
  if (!check_keys(r)) return;
  if (r->vertex && r->doc && !vertex_checks(r, url)) return;
  if (r->b.raw) {
    free(r->resp);
    r->status = r->b.status;
    r->stream = false;
    r->resp = xstrdup(r->b.raw);
    r->resp_len = strlen(r->resp);
    bool streamed = r->route == RT_GEM_STREAM || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->doc, "stream"));
    r->ctype = streamed && r->status == 200 ? "text/event-stream" : NULL;
    return;
  }
  if (r->b.reject_keys && key_rejected(r->b.reject_keys, received_key(r))) {
    /* OpenAI's answer to a revoked key (Anthropic: authentication_error, by the route's shape) */
    set_error(r, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key");
    return;
  }
  if (r->b.reject_field && cJSON_GetObjectItemCaseSensitive(r->doc, r->b.reject_field)) {
    reject_field(r, r->b.reject_field);
    return;
  }
  if (r->b.strict && strict_refusal(r, url))
    return;
  if (r->b.status != 200) {
    snprintf(err, sizeof err, "mock error %d", r->b.status);
    if (r->b.echo_key) {   /* like OpenAI's "Incorrect API key provided: sk-..." */
      const char *k = received_key(r);
      snprintf(err, sizeof err, "mock error %d: Incorrect API key provided: %.300s", r->b.status,
               k ? k : "(none)");
    }
    char code[32];
    snprintf(code, sizeof code, "mock_%d", r->b.status);
    set_error(r, r->b.status, err, "mock_error", code);
    return;
  }
  if (r->route == RT_MODELS) {
    r->status = 200;
    r->resp = xstrdup(cfg.models_json);
    r->resp_len = strlen(r->resp);
    return;
  }
  if (r->route == RT_MODEL_ONE) {
    prepare_model_one(r, url);
    return;
  }
  if (r->route == RT_BALANCE) {
    prepare_balance(r, url);
    return;
  }
  if (!cJSON_IsObject(r->doc)) {
    set_error(r, 400, "the request body must be a JSON object", "invalid_request_error", NULL);
    return;
  }
  if (r->route == RT_MESSAGES) {
    prepare_messages(r);
    return;
  }
  if (r->route == RT_ANTH_COUNT || r->route == RT_GEM_COUNT) {
    prepare_count(r);
    return;
  }
  if (r->route == RT_GEM_EMBED || r->route == RT_GEM_BATCH) {
    prepare_gemini_embed(r, url);
    return;
  }
  if (r->route == RT_BEDROCK || r->route == RT_BEDROCK_STREAM) {
    prepare_bedrock(r, url);
    return;
  }
  if (r->route == RT_GEM_GEN || r->route == RT_GEM_STREAM) {
    prepare_gemini(r, url);
    return;
  }
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->doc, "model");
  if (r->route == RT_AZURE_CHAT) { /* the deployment stands for the model */
    r->chat = true;
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r->doc, "messages"))) {
      set_error(r, 400, "'messages' is a required property", "invalid_request_error", NULL);
      return;
    }
    if (cJSON_IsString(model)) {
      prepare_generation(r, model->valuestring);
      return;
    }
    const char *d = url + strlen(AZURE_PREFIX);
    size_t n = (size_t)(strchr(d, '/') - d);
    char *dep = xrealloc(NULL, n + 1);
    memcpy(dep, d, n);
    dep[n] = '\0';
    prepare_generation(r, dep);
    free(dep);
    return;
  }
  if (!cJSON_IsString(model)) {
    set_error(r, 400, "you must provide a model parameter", "invalid_request_error", NULL);
    return;
  }
  if (r->route == RT_EMBEDDINGS) {
    prepare_embeddings(r, model->valuestring);
    return;
  }
  r->chat = r->route == RT_CHAT;
  if (r->chat && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r->doc, "messages"))) {
    set_error(r, 400, "'messages' is a required property", "invalid_request_error", NULL);
    return;
  }
  prepare_generation(r, model->valuestring);
}

/* ------------------------------------------------------------------------------------------ */
/* SSE stream                                                                                   */

static void ev_chat_chunk(struct req *r, const char *delta, const char *finish)
{
  sb_printf(&r->ev,
            "data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":%lld,"
            "\"model\":%s,\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"delta\":%s,"
            "\"logprobs\":null,\"finish_reason\":%s}]%s}\n\n",
            r->created, r->model_json, delta, finish, r->include_usage ? ",\"usage\":null" : "");
}

static void ev_text_chunk(struct req *r, const char *text, const char *finish)
{
  sb_printf(&r->ev,
            "data: {\"id\":\"cmpl-mock\",\"object\":\"text_completion\",\"created\":%lld,"
            "\"model\":%s,\"choices\":[{\"text\":\"%s\",\"index\":0,\"logprobs\":null,"
            "\"finish_reason\":%s}]%s}\n\n",
            r->created, r->model_json, text, finish, r->include_usage ? ",\"usage\":null" : "");
}

/* Anthropic frame: "event: NAME\ndata: JSON\n\n" with the JSON's "type" equal to NAME. */
__attribute__((format(printf, 3, 4))) static void ev_anthropic(struct req *r, const char *name,
                                                                const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  if (r->route == RT_BEDROCK_STREAM) {   /* the same event, as a Bedrock chunk frame */
    struct sbuf j = {0};
    sb_printf(&j, "{\"type\":\"%s\"", name);
    sb_vprintf(&j, fmt, ap);
    if (strcmp(name, "message_stop") == 0)
      sb_printf(&j, ",\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":%ld,\"outputTokenCount\":%ld,"
                    "\"invocationLatency\":1234,\"firstByteLatency\":321}", r->prompt_tokens, r->completion_tokens);
    sb_puts(&j, "}");
    ev_bedrock_chunk(r, j.p, j.len);
    sb_free(&j);
    va_end(ap);
    return;
  }
  sb_printf(&r->ev, "event: %s\ndata: {\"type\":\"%s\"", name, name);
  sb_vprintf(&r->ev, fmt, ap);
  va_end(ap);
  sb_puts(&r->ev, "}\n\n");
}

/* The in-band stream error of dialect d (error_after). */
static void ev_stream_error(struct req *r)
{
  if (r->route == RT_BEDROCK_STREAM) {
    ev_bedrock_exception(r, "mock stream error");
    return;
  }
  if (r->b.echo_key) {     /* the message quotes the key received (echo_key) */
    const char *k = received_key(r);
    struct sbuf m = {0};
    sb_printf(&m, "mock stream error: Incorrect API key provided: %.300s", k ? k : "(none)");
    if (r->route == RT_RESPONSES) {
      sb_puts(&r->ev, "event: error\ndata: {\"type\":\"error\",\"code\":\"mock_stream_error\",\"message\":");
      sb_json_str(&r->ev, m.p);
      sb_printf(&r->ev, ",\"param\":null,\"sequence_number\":%ld}\n\n", r->seq++);
    } else if (r->dialect == DL_ANTHROPIC) {
      sb_puts(&r->ev, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":");
      sb_json_str(&r->ev, m.p);
      sb_puts(&r->ev, "}}\n\n");
    } else if (r->dialect == DL_GEMINI) {
      sb_puts(&r->ev, "data: {\"error\":{\"code\":500,\"message\":");
      sb_json_str(&r->ev, m.p);
      sb_puts(&r->ev, ",\"status\":\"INTERNAL\"}}\r\n\r\n");
    } else {
      sb_puts(&r->ev, "data: {\"error\":{\"message\":");
      sb_json_str(&r->ev, m.p);
      sb_puts(&r->ev, ",\"type\":\"mock_error\",\"param\":null,\"code\":\"mock_stream_error\"}}\n\n");
    }
    sb_free(&m);
    return;
  }
  if (r->route == RT_RESPONSES)
    sb_printf(&r->ev, "event: error\ndata: {\"type\":\"error\",\"code\":\"mock_stream_error\",\"message\":"
                      "\"mock stream error\",\"param\":null,\"sequence_number\":%ld}\n\n", r->seq++);
  else if (r->dialect == DL_ANTHROPIC)
    sb_puts(&r->ev, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                    "\"message\":\"mock stream error\"}}\n\n");
  else if (r->dialect == DL_GEMINI)
    sb_puts(&r->ev, "data: {\"error\":{\"code\":500,\"message\":\"mock stream error\","
                    "\"status\":\"INTERNAL\"}}\r\n\r\n");
  else
    sb_puts(&r->ev, "data: {\"error\":{\"message\":\"mock stream error\",\"type\":\"mock_error\","
                    "\"param\":null,\"code\":\"mock_stream_error\"}}\n\n");
}

/* Anthropic tool_use stream: the input JSON {"q":"x"} in two input_json_delta pieces. */

/* Renders the next event into r->ev, or sets r->cut / r->ended. */
static void stream_next(struct req *r)
{
  const struct behaviour *b = &r->b;
  if (!r->extras_sent && r->dialect == DL_OPENAI && (b->malformed || b->huge_event > 0)) {
    r->extras_sent = true;
    if (b->malformed)
      sb_puts(&r->ev, "data: {\"choices\":[{\"delta\":{\"content\":\"broken\n\n"
                      "this line has no field name\n\n"
                      "data: [1,2,\n\n");
    if (b->huge_event > 0) {
      sb_puts(&r->ev, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
      sb_reserve(&r->ev, (size_t)b->huge_event + 32);
      memset(r->ev.p + r->ev.len, 'x', (size_t)b->huge_event);
      r->ev.len += (size_t)b->huge_event;
      r->ev.p[r->ev.len] = '\0';
      sb_puts(&r->ev, "\"},\"finish_reason\":null}]}\n\n");
    }
    return;
  }
  if (r->st == SS_CONTENT || r->st == SS_A_DELTA || r->st == SS_R_DELTA) {
    if (b->disconnect_after >= 0 && r->content_sent >= b->disconnect_after) {
      r->cut = true;
      return;
    }
    if (b->error_after >= 0 && r->content_sent >= b->error_after) {
      ev_stream_error(r);
      r->ended = true;
      r->st = SS_END;
      return;
    }
  }
  if (r->route == RT_RESPONSES && r->st != SS_END) {
    responses_next(r);
    return;
  }
  if (r->dialect == DL_GEMINI && r->st == SS_CONTENT) {
    bool last = r->tool || r->content_sent + 1 >= b->chunks;
    sb_puts(&r->ev, "data: ");
    gemini_frame(&r->ev, r, b->chunks > 0 ? rword(r) : "", last);
    sb_puts(&r->ev, "\r\n\r\n");
    r->content_sent++;
    if (last) r->st = SS_END;
    else r->gap_pending = b->chunk_gap_ms > 0;
    return;
  }
  switch (r->st) {
  case SS_A_START: {
    char usage[96] = "";
    if (!b->no_usage)
      snprintf(usage, sizeof usage, ",\"usage\":{\"input_tokens\":%ld,\"output_tokens\":0}", r->prompt_tokens);
    ev_anthropic(r, "message_start",
                 ",\"message\":{\"id\":\"msg_mock\",\"type\":\"message\",\"role\":\"assistant\","
                 "\"model\":%s,\"content\":[],\"stop_reason\":null,\"stop_sequence\":null%s}",
                 r->model_json, usage);
    r->st = SS_A_BLOCK;
    return;
  }
  case SS_A_BLOCK:
    if (r->thinking) { /* the whole thinking block at once, then the call as block 1 */
      ev_anthropic(r, "content_block_start",
                   ",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}");
      ev_anthropic(r, "content_block_delta",
                   ",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"%s\"}", AGENT_THOUGHT);
      ev_anthropic(r, "content_block_delta",
                   ",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"%s\"}", AGENT_SIGNATURE);
      ev_anthropic(r, "content_block_stop", ",\"index\":0");
      r->blk = 1;
    }
    if (r->tool)
      ev_anthropic(r, "content_block_start",
                   ",\"index\":%d,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_mock\","
                   "\"name\":%s,\"input\":{}}",
                   r->blk, r->tool_name_json);
    else
      ev_anthropic(r, "content_block_start", ",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}");
    r->st = SS_A_PING;
    return;
  case SS_A_PING:
    ev_anthropic(r, "ping", "%s", "");
    r->st = SS_A_DELTA;
    r->gap_pending = b->chunk_gap_ms > 0;
    return;
  case SS_A_DELTA: {
    long total = r->tool ? 2 : b->chunks;
    if (r->content_sent >= total) { /* nothing (more) to say */
      r->st = SS_A_BLOCK_STOP;
      return;
    }
    if (r->tool) {
      struct sbuf piece = {0};
      sb_args_piece(&piece, r, (int)r->content_sent);
      ev_anthropic(r, "content_block_delta",
                   ",\"index\":%d,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"%s\"}",
                   r->blk, piece.p ? piece.p : "");
      sb_free(&piece);
    } else {
      ev_anthropic(r, "content_block_delta",
                   ",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}", rword(r));
    }
    r->content_sent++;
    if (r->content_sent >= total) r->st = SS_A_BLOCK_STOP;
    else r->gap_pending = b->chunk_gap_ms > 0;
    return;
  }
  case SS_A_BLOCK_STOP:
    ev_anthropic(r, "content_block_stop", ",\"index\":%d", r->blk);
    r->st = SS_A_MSG_DELTA;
    return;
  case SS_A_MSG_DELTA:
    if (b->no_usage)
      ev_anthropic(r, "message_delta", ",\"delta\":{\"stop_reason\":\"%s\",\"stop_sequence\":null}",
                   r->tool ? "tool_use" : "end_turn");
    else
      ev_anthropic(r, "message_delta",
                   ",\"delta\":{\"stop_reason\":\"%s\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%ld}",
                   r->tool ? "tool_use" : "end_turn", r->completion_tokens);
    r->st = SS_A_MSG_STOP;
    return;
  case SS_A_MSG_STOP:
    ev_anthropic(r, "message_stop", "%s", "");
    r->st = SS_END;
    return;
  default:
    break;
  }
  switch (r->st) {
  case SS_ROLE:
    ev_chat_chunk(r, "{\"role\":\"assistant\",\"content\":\"\"}", "null");
    r->st = SS_CONTENT;
    r->gap_pending = b->chunk_gap_ms > 0;
    return;
  case SS_CONTENT: {
    long total = r->tool ? 2 : b->chunks;
    bool last = r->content_sent + 1 >= total;
    const char *finish = last ? (r->tool ? "\"tool_calls\"" : "\"stop\"") : "null";
    if (r->tool && r->content_sent == 0) {  /* the call's head, then its arguments in two pieces */
      struct sbuf d = {0};
      sb_printf(&d, "{\"tool_calls\":[{\"index\":0,\"id\":\"call_mock\",\"type\":\"function\","
                    "\"function\":{\"name\":%s,\"arguments\":\"", r->tool_name_json);
      sb_args_piece(&d, r, 0);
      sb_puts(&d, "\"}}]}");
      ev_chat_chunk(r, d.p, finish);
      sb_free(&d);
    } else if (r->tool) {
      struct sbuf d = {0};
      sb_puts(&d, "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"");
      sb_args_piece(&d, r, 1);
      sb_puts(&d, "\"}}]}");
      ev_chat_chunk(r, d.p, finish);
      sb_free(&d);
    } else if (total == 0) { /* nothing to say: one empty closing chunk */
      if (r->chat) ev_chat_chunk(r, "{}", finish);
      else ev_text_chunk(r, "", finish);
    } else if (r->chat) {
      struct sbuf d = {0};
      sb_printf(&d, "{\"content\":\"%s\"}", rword(r));
      ev_chat_chunk(r, d.p, finish);
      sb_free(&d);
    } else {
      ev_text_chunk(r, rword(r), finish);
    }
    r->content_sent++;
    if (last) r->st = r->include_usage ? SS_USAGE : SS_DONE;
    else r->gap_pending = b->chunk_gap_ms > 0;
    return;
  }
  case SS_USAGE:
    sb_printf(&r->ev, "data: {\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":%s,%s\"choices\":[],\"usage\":",
              r->chat ? "chatcmpl-mock" : "cmpl-mock", r->chat ? "chat.completion.chunk" : "text_completion",
              r->created, r->model_json, r->chat ? "\"system_fingerprint\":null," : "");
    usage_json(&r->ev, r->prompt_tokens, r->completion_tokens);
    sb_puts(&r->ev, "}\n\n");
    r->st = SS_DONE;
    return;
  case SS_DONE:
    sb_puts(&r->ev, "data: [DONE]\n\n");
    r->st = SS_END;
    r->ended = true;
    return;
  case SS_END:
    r->ended = true;
    return;
  default: /* the Anthropic states, handled above */
    return;
  }
}

static bool stall_due(const struct req *r)
{
  return r->b.stall_after >= 0 && !r->stalled && r->content_sent == r->b.stall_after &&
         (r->st == SS_CONTENT || r->st == SS_A_DELTA || r->st == SS_R_DELTA);
}

/* The wait due before the next event (0 = none); clears it. */
static long stream_take_wait(struct req *r)
{
  if (atomic_load_explicit(&g_shutting, memory_order_relaxed)) return 0;
  if (r->fb_pending) {
    r->fb_pending = false;
    return r->b.first_byte_ms;
  }
  if (stall_due(r)) {
    r->stalled = true;
    return r->b.stall_ms;
  }
  if (r->gap_pending && (r->st == SS_CONTENT || r->st == SS_A_DELTA || r->st == SS_R_DELTA)) {
    r->gap_pending = false;
    return r->b.chunk_gap_ms;
  }
  return 0;
}

static bool stream_wait_due(const struct req *r)
{
  if (atomic_load_explicit(&g_shutting, memory_order_relaxed)) return false;
  return r->fb_pending || stall_due(r) || (r->gap_pending && (r->st == SS_CONTENT || r->st == SS_A_DELTA || r->st == SS_R_DELTA));
}

static void hard_close(struct MHD_Connection *conn);

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  (void)pos;
  struct req *r = cls;
  size_t n = 0;
  for (;;) {
    if (r->ev_off < r->ev.len) { /* deliver rendered bytes first */
      size_t k = r->ev.len - r->ev_off;
      if (k > max - n) k = max - n;
      if (r->b.drip_ms > 0 && !atomic_load_explicit(&g_shutting, memory_order_relaxed)) {
        if (n > 0) return (ssize_t)n;         /* one byte per call, drip_ms apart */
        if (r->drip_wait) {
          r->drip_wait = false;
          suspend_for(r->conn, r->b.drip_ms);
          return 0;
        }
        r->drip_wait = true;
        buf[0] = r->ev.p[r->ev_off++];
        if (r->ev_off == r->ev.len) r->ev.len = r->ev_off = 0;
        return 1;
      }
      memcpy(buf + n, r->ev.p + r->ev_off, k);
      n += k;
      r->ev_off += k;
      if (r->ev_off < r->ev.len) return (ssize_t)n; /* buf is full */
      r->ev.len = r->ev_off = 0;
    }
    if (r->cut) {
      if (n > 0) return (ssize_t)n;
      if (!r->cut_armed) hard_close(r->conn);   /* the chunks sent so far, then EOF */
      if (!r->cut_armed) {
        /* libmicrohttpd 0.9.75 (epoll) leaves the connection open when END_WITH_ERROR is returned
         * on the write path; returned from the resume path it is closed at once. So bounce
         * through suspend/resume first. That alone fails while any other connection is open,
         * even an idle kept-alive one (relayd's pool always has some): the cut connection then
         * stays open until the client gives up. So the socket is also shut down first
         * (hard_close above: MHD asks for more only once what it had is written, so nothing
         * rendered is lost): the client sees the end whatever MHD does with the connection. */
        r->cut_armed = true;
        MHD_suspend_connection(r->conn);
        MHD_resume_connection(r->conn);
        return 0;
      }
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (r->ended) return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
    if (stream_wait_due(r)) {
      if (n > 0) return (ssize_t)n; /* flush what we have, wait on the next call */
      long ms = stream_take_wait(r);
      if (ms > 0) {
        suspend_for(r->conn, ms);
        return 0;
      }
    }
    if (n == max) return (ssize_t)n;
    stream_next(r);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* the access handler                                                                           */

/* ------------------------------------------------------------------------------------------ */
/* vertex: Google's token endpoint and Vertex AI's Gemini and Claude paths                      */

#define VERTEX_PREFIX "/v1/projects/"
#define GCP_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define GCP_TOKENS_MAX 4096

static EVP_PKEY *gcp_pubkey;     /* --gcp-public-key: the service account's public key */
static long gcp_token_ttl = 3600; /* --gcp-token-ttl: expires_in of the tokens issued */
static atomic_bool gcp_hold;     /* --gcp-token-hold: /token answers nothing until POST /__mock/gcp-release */
static struct {
  pthread_mutex_t mu;
  char tok[GCP_TOKENS_MAX][48];
  time_t exp[GCP_TOKENS_MAX];
  size_t n;
} G = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* /v1/projects/P/locations/L/publishers/{google,anthropic}/models/M:METHOD, each segment non-empty */
static enum route vertex_route(const char *url)
{
  const char *p = url + strlen(VERTEX_PREFIX);
  const char *loc = strstr(p, "/locations/"), *pub = loc ? strstr(loc, "/publishers/") : NULL;
  const char *mod = pub ? strstr(pub, "/models/") : NULL, *colon = mod ? strrchr(mod, ':') : NULL;
  if (!loc || loc == p || !pub || pub == loc + 11 || !mod || !colon || colon == mod + 8 ||
      memchr(p, '/', (size_t)(loc - p)) || memchr(loc + 11, '/', (size_t)(pub - loc - 11)) ||
      memchr(mod + 8, '/', (size_t)(colon - mod - 8)))
    return RT_NOT_FOUND;
  const char *publisher = pub + 12;
  size_t pl = (size_t)(mod - publisher);
  if (pl == 6 && strncmp(publisher, "google", 6) == 0)
    return strcmp(colon, ":generateContent") == 0         ? RT_GEM_GEN
           : strcmp(colon, ":streamGenerateContent") == 0 ? RT_GEM_STREAM
                                                          : RT_NOT_FOUND;
  if (pl == 9 && strncmp(publisher, "anthropic", 9) == 0)
    return strcmp(colon, ":rawPredict") == 0 || strcmp(colon, ":streamRawPredict") == 0 ? RT_MESSAGES : RT_NOT_FOUND;
  return RT_NOT_FOUND;
}

/* base64url (no padding) of s[0..n) decoded into a malloc'd buffer; NULL when it is not base64url. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *outlen)
{
  unsigned char *out = xrealloc(NULL, n * 3 / 4 + 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '-' ? 62 : c == '_' ? 63 : -1;
    if (v < 0) {
      free(out);
      return NULL;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  *outlen = o;
  return out;
}

static cJSON *b64url_json(const char *s, size_t n)
{
  size_t len;
  unsigned char *d = b64url_decode(s, n, &len);
  cJSON *j = d ? cJSON_ParseWithLength((const char *)d, len) : NULL;
  free(d);
  return j;
}

/* The value of form field name in an x-www-form-urlencoded body, percent-decoded, malloc'd. */
static char *form_field(const char *body, const char *name)
{
  size_t nl = strlen(name);
  for (const char *p = body; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
    if (strncmp(p, name, nl) != 0 || p[nl] != '=') continue;
    const char *v = p + nl + 1, *end = strchr(v, '&');
    size_t n = end ? (size_t)(end - v) : strlen(v), o = 0;
    char *out = xrealloc(NULL, n + 1);
    for (size_t i = 0; i < n; i++) {
      if (v[i] == '%' && i + 2 < n + 1 && isxdigit((unsigned char)v[i + 1]) && isxdigit((unsigned char)v[i + 2])) {
        char hex[3] = {v[i + 1], v[i + 2], 0};
        out[o++] = (char)strtol(hex, NULL, 16);
        i += 2;
      } else {
        out[o++] = v[i] == '+' ? ' ' : v[i];
      }
    }
    out[o] = '\0';
    return out;
  }
  return NULL;
}

static enum MHD_Result gcp_refuse(struct MHD_Connection *c, int status, const char *error, const char *desc)
{
  struct sbuf b = {0};
  sb_puts(&b, "{\"error\":");
  sb_json_str(&b, error);
  sb_puts(&b, ",\"error_description\":");
  sb_json_str(&b, desc);
  sb_puts(&b, "}\n");
  size_t len;
  char *body = sb_steal(&b, &len);
  return queue_buffer(c, status, body, len, "application/json", NULL);
}

/* POST /token: the JWT bearer grant, checked as Google's token endpoint checks it (RFC 7523;
 * developers.google.com/identity/protocols/oauth2/service-account): the assertion's RS256 signature
 * against --gcp-public-key, alg, iss, scope, aud = this endpoint's URL, iat and exp (at most an hour
 * apart, exp in the future). */
static enum MHD_Result gcp_token(struct req *r)
{
  char *grant = form_field(r->body ? r->body : "", "grant_type");
  char *jwt = form_field(r->body ? r->body : "", "assertion");
  enum MHD_Result ret;
  const char *dot1 = jwt ? strchr(jwt, '.') : NULL, *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  cJSON *hdr = NULL, *claims = NULL;
  if (!grant || strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer") != 0) {
    ret = gcp_refuse(r->conn, 400, "unsupported_grant_type", "Invalid grant_type.");
    goto out;
  }
  if (!gcp_pubkey) {
    ret = gcp_refuse(r->conn, 500, "server_error", "the mock has no --gcp-public-key");
    goto out;
  }
  if (!dot2 || strchr(dot2 + 1, '.') || !(hdr = b64url_json(jwt, (size_t)(dot1 - jwt))) ||
      !(claims = b64url_json(dot1 + 1, (size_t)(dot2 - dot1 - 1)))) {
    ret = gcp_refuse(r->conn, 400, "invalid_grant", "Invalid JWT: the assertion is not a JWS.");
    goto out;
  }
  const char *alg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hdr, "alg"));
  size_t siglen = 0;
  unsigned char *sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &siglen);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  bool good = alg && strcmp(alg, "RS256") == 0 && sig && md &&
              EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, gcp_pubkey) == 1 &&
              EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(dot2 - jwt)) == 1;
  EVP_MD_CTX_free(md);
  free(sig);
  if (!good) {
    ret = gcp_refuse(r->conn, 400, "invalid_grant", "Invalid JWT Signature.");
    goto out;
  }
  const char *iss = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(claims, "iss"));
  const char *scope = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(claims, "scope"));
  const char *aud = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(claims, "aud"));
  const cJSON *iat = cJSON_GetObjectItemCaseSensitive(claims, "iat");
  const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
  const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
  char want_aud[300];
  snprintf(want_aud, sizeof want_aud, "http://%.200s/token", host ? host : "");
  double now = (double)time(NULL);
  if (!iss || !*iss || !scope || strcmp(scope, GCP_SCOPE) != 0) {
    ret = gcp_refuse(r->conn, 400, "invalid_scope", "Invalid JWT: iss or scope missing or wrong.");
  } else if (!aud || strcmp(aud, want_aud) != 0) {
    ret = gcp_refuse(r->conn, 400, "invalid_grant", "Invalid JWT: aud is not this token endpoint.");
  } else if (!cJSON_IsNumber(iat) || !cJSON_IsNumber(exp) || exp->valuedouble <= now ||
             iat->valuedouble > now + 60 || exp->valuedouble - iat->valuedouble > 3600) {
    ret = gcp_refuse(r->conn, 400, "invalid_grant",
                     "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
  } else {
    pthread_mutex_lock(&G.mu);
    size_t i = G.n < GCP_TOKENS_MAX ? G.n++ : G.n % GCP_TOKENS_MAX;
    snprintf(G.tok[i], sizeof G.tok[i], "ya29.mock-%zu-%08lx", i + 1, (unsigned long)(now_ns() & 0xffffffffu));
    G.exp[i] = time(NULL) + gcp_token_ttl;
    char tok[48];
    memcpy(tok, G.tok[i], sizeof tok);
    pthread_mutex_unlock(&G.mu);
    struct sbuf b = {0};
    sb_printf(&b, "{\"access_token\":\"%s\",\"expires_in\":%ld,\"token_type\":\"Bearer\"}\n", tok, gcp_token_ttl);
    size_t len;
    char *body = sb_steal(&b, &len);
    ret = queue_buffer(r->conn, 200, body, len, "application/json", NULL);
  }
out:
  cJSON_Delete(hdr);
  cJSON_Delete(claims);
  free(grant);
  free(jwt);
  return ret;
}

/* Is "Authorization: Bearer T" a token /token issued that has not expired? */
static bool gcp_token_live(struct MHD_Connection *c)
{
  const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  if (!a || strncmp(a, "Bearer ", 7) != 0) return false;
  bool live = false;
  time_t now = time(NULL);
  pthread_mutex_lock(&G.mu);
  for (size_t i = 0; i < G.n && i < GCP_TOKENS_MAX && !live; i++)
    live = strcmp(G.tok[i], a + 7) == 0 && now < G.exp[i];
  pthread_mutex_unlock(&G.mu);
  return live;
}

/* Vertex's own checks: the token, and Claude's body (no model, its anthropic_version, stream as the
 * method says); the model from the path goes into the body for prepare_messages. false: answered. */
static bool vertex_checks(struct req *r, const char *url)
{
  if (!gcp_token_live(r->conn)) {
    free(r->resp);
    r->status = 401;
    r->stream = false;
    r->resp = xstrdup("{\"error\":{\"code\":401,\"message\":\"Request had invalid authentication credentials. "
                      "Expected OAuth 2 access token, login cookie or other valid authentication credential.\","
                      "\"status\":\"UNAUTHENTICATED\"}}\n");
    r->resp_len = strlen(r->resp);
    return false;
  }
  if (r->route != RT_MESSAGES) return true;
  const char *ver = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->doc, "anthropic_version"));
  bool streamed = strstr(url, ":streamRawPredict") != NULL;
  if (cJSON_GetObjectItemCaseSensitive(r->doc, "model")) {
    set_error(r, 400, "model: Extra inputs are not permitted", NULL, NULL);
    return false;
  }
  if (!ver || strcmp(ver, "vertex-2023-10-16") != 0) {
    set_error(r, 400, "anthropic_version: must be vertex-2023-10-16", NULL, NULL);
    return false;
  }
  if (streamed != cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->doc, "stream"))) {
    set_error(r, 400, "stream: streamRawPredict needs \"stream\": true, rawPredict none", NULL, NULL);
    return false;
  }
  const char *m = strstr(url, "/models/") + 8;
  char model[256];
  snprintf(model, sizeof model, "%.*s", (int)(strrchr(m, ':') - m), m);
  cJSON_AddStringToObject(r->doc, "model", model);
  return true;
}

/* ------------------------------------------------------------------------------------------ */
/* balances: each provider's balance endpoint in its documented shape; "balance" (mock key,
 * default 100) is what is left.                                                              */

enum bal_shape { BS_NONE, BS_OAI_SUB, BS_OAI_USAGE, BS_DEEPSEEK, BS_OPENROUTER, BS_SILICONFLOW, BS_MOONSHOT };

static enum bal_shape balance_shape(const char *url)
{
  static const struct { const char *path; enum bal_shape s; } t[] = {
      {"/v1/dashboard/billing/subscription", BS_OAI_SUB}, {"/dashboard/billing/subscription", BS_OAI_SUB},
      {"/v1/dashboard/billing/usage", BS_OAI_USAGE},      {"/dashboard/billing/usage", BS_OAI_USAGE},
      {"/user/balance", BS_DEEPSEEK},                     {"/v1/credits", BS_OPENROUTER},
      {"/api/v1/credits", BS_OPENROUTER},                 {"/v1/user/info", BS_SILICONFLOW},
      {"/v1/users/me/balance", BS_MOONSHOT},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (strcmp(url, t[i].path) == 0) return t[i].s;
  return BS_NONE;
}

static void prepare_balance(struct req *r, const char *url)
{
  double b = r->b.balance;
  char out[1024];
  switch (balance_shape(url)) {
  case BS_OAI_SUB:   /* OpenAI's billing subscription, as One API reads it (controller/channel-billing.go) */
    snprintf(out, sizeof out, "{\"object\":\"billing_subscription\",\"has_payment_method\":true,"
             "\"soft_limit_usd\":%.2f,\"hard_limit_usd\":%.2f,\"system_hard_limit_usd\":%.2f,\"access_until\":0}",
             b + 20, b + 20, b + 20);
    break;
  case BS_OAI_USAGE: /* total_usage in cents: 20 USD used */
    snprintf(out, sizeof out, "{\"object\":\"list\",\"daily_costs\":[],\"total_usage\":2000.0}");
    break;
  case BS_DEEPSEEK:  /* api-docs.deepseek.com/api/get-user-balance: figures are strings */
    snprintf(out, sizeof out, "{\"is_available\":true,\"balance_infos\":[{\"currency\":\"CNY\","
             "\"total_balance\":\"%.2f\",\"granted_balance\":\"10.00\",\"topped_up_balance\":\"%.2f\"}]}", b, b - 10);
    break;
  case BS_OPENROUTER: /* openrouter.ai/docs/api-reference/get-credits */
    snprintf(out, sizeof out, "{\"data\":{\"total_credits\":%.4f,\"total_usage\":25.5}}", b + 25.5);
    break;
  case BS_SILICONFLOW: /* docs.siliconflow.cn/api-reference/userinfo/get-user-info */
    snprintf(out, sizeof out, "{\"code\":20000,\"message\":\"OK\",\"status\":true,\"data\":{\"id\":\"u1\","
             "\"name\":\"mock\",\"email\":\"\",\"isAdmin\":false,\"balance\":\"0.88\",\"status\":\"normal\","
             "\"chargeBalance\":\"%.2f\",\"totalBalance\":\"%.2f\"}}", b - 0.88, b);
    break;
  case BS_MOONSHOT:  /* platform.moonshot.cn/docs/api/misc (check balance) */
    snprintf(out, sizeof out, "{\"code\":0,\"data\":{\"available_balance\":%.5f,\"voucher_balance\":1.0,"
             "\"cash_balance\":%.5f},\"scode\":\"0x0\",\"status\":true}", b, b - 1.0);
    break;
  case BS_NONE:
    set_error(r, 404, "no such balance endpoint", "invalid_request_error", NULL);
    return;
  }
  r->status = 200;
  r->resp = xstrdup(out);
  r->resp_len = strlen(r->resp);
}

static enum route route_of(const char *method, const char *url)
{
  bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
  static const struct {
    const char *path;
    bool is_post;
    enum route rt;
  } table[] = {
      {"/v1/chat/completions", true, RT_CHAT},   {"/v1/completions", true, RT_COMPLETIONS},
      {"/v1/embeddings", true, RT_EMBEDDINGS},   {"/v1/models", false, RT_MODELS},
      {"/__mock/requests", false, RT_MOCK_REQUESTS}, {"/__mock/reset", true, RT_MOCK_RESET},
      {"/__mock/defaults", true, RT_MOCK_DEFAULTS},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (strcmp(url, table[i].path) == 0)
      return (table[i].is_post ? post : get) ? table[i].rt : RT_BAD_METHOD;
  }
  if (strncmp(url, "/v1/models/", 11) == 0 && url[11]) return get ? RT_MODEL_ONE : RT_BAD_METHOD;
  enum route mr = media_route(url);
  if (mr != RT_NOT_FOUND) return post ? mr : RT_BAD_METHOD;
  if (strcmp(url, "/v1/messages") == 0) return post ? RT_MESSAGES : RT_BAD_METHOD;
  if (strcmp(url, "/v1/messages/count_tokens") == 0) return post ? RT_ANTH_COUNT : RT_BAD_METHOD;
  if (strncmp(url, "/model/", 7) == 0) {
    const char *slash = strrchr(url + 7, '/');
    if (slash && slash > url + 7 && strcmp(slash, "/invoke") == 0) return post ? RT_BEDROCK : RT_BAD_METHOD;
    if (slash && slash > url + 7 && strcmp(slash, "/invoke-with-response-stream") == 0)
      return post ? RT_BEDROCK_STREAM : RT_BAD_METHOD;
  }
  if (strncmp(url, "/webhook", 8) == 0 && post) return RT_WEBHOOK;
  if (balance_shape(url)) return get ? RT_BALANCE : RT_BAD_METHOD;
  if (strncmp(url, GEMINI_PREFIX, strlen(GEMINI_PREFIX)) == 0) {
    const char *m = url + strlen(GEMINI_PREFIX), *colon = strrchr(m, ':');
    if (colon && colon > m && !memchr(m, '/', (size_t)(colon - m))) {
      enum route rt = strcmp(colon, ":generateContent") == 0         ? RT_GEM_GEN
                      : strcmp(colon, ":streamGenerateContent") == 0 ? RT_GEM_STREAM
                      : strcmp(colon, ":countTokens") == 0           ? RT_GEM_COUNT
                      : strcmp(colon, ":embedContent") == 0          ? RT_GEM_EMBED
                      : strcmp(colon, ":batchEmbedContents") == 0    ? RT_GEM_BATCH
                                                                     : RT_NOT_FOUND;
      if (rt != RT_NOT_FOUND) return post ? rt : RT_BAD_METHOD;
    }
  }
  if (strcmp(url, "/token") == 0) return post ? RT_GCP_TOKEN : RT_BAD_METHOD;
  if (strcmp(url, "/__mock/gcp-release") == 0) return post ? RT_GCP_RELEASE : RT_BAD_METHOD;
  if (strncmp(url, VERTEX_PREFIX, strlen(VERTEX_PREFIX)) == 0) {
    enum route rt = vertex_route(url);
    if (rt != RT_NOT_FOUND) return post ? rt : RT_BAD_METHOD;
  }
  if (strncmp(url, AZURE_PREFIX, strlen(AZURE_PREFIX)) == 0) {
    const char *d = url + strlen(AZURE_PREFIX), *slash = strchr(d, '/');
    if (slash && slash > d && strcmp(slash, "/chat/completions") == 0)
      return post ? RT_AZURE_CHAT : RT_BAD_METHOD;
    if (slash && slash > d) {
      char v1[128];
      snprintf(v1, sizeof v1, "/v1%.100s", slash);
      mr = media_route(v1);
      if (mr != RT_NOT_FOUND && mr != RT_RERANK && mr != RT_RESPONSES) return post ? mr : RT_BAD_METHOD;
    }
  }
  if (strcmp(url, "/openai/responses") == 0) return post ? RT_RESPONSES : RT_BAD_METHOD;
  /* an API root that is not /v1 (Zhipu /api/paas/v4, Doubao /api/v3: relay's "compatible"
   * full-URL channels): chat under any prefix */
  size_t ul = strlen(url), cl = strlen("/chat/completions");
  if (ul > cl && strcmp(url + ul - cl, "/chat/completions") == 0) return post ? RT_CHAT : RT_BAD_METHOD;
  return RT_NOT_FOUND;
}

static void record_request(struct req *r, const char *method, const char *url)
{
  if (!R.file && cfg.record_limit <= 0) return;
  struct sbuf b = {0};
  sb_puts(&b, "{\"method\":");
  sb_json_str(&b, method);
  sb_puts(&b, ",\"path\":");
  sb_json_str(&b, url);
  struct hdr_ctx h = {.b = &b, .first = true};
  if (MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, NULL, NULL) > 0) {
    sb_puts(&b, ",\"query\":{");
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, record_query_it, &h);
    sb_puts(&b, "}");
  }
  sb_puts(&b, ",\"headers\":{");
  h.first = true;
  MHD_get_connection_values(r->conn, MHD_HEADER_KIND, record_header_it, &h);
  sb_puts(&b, "},\"body\":");
  if (r->doc) {
    char *s = cJSON_PrintUnformatted(r->doc);
    sb_puts(&b, s ? s : "null");
    cJSON_free(s);
  } else if (r->form) {
    sb_puts(&b, "null");
  } else if (r->body_len > 0 && !r->too_large) {
    sb_json_str(&b, r->body); /* raw text (stops at a NUL byte) */
  } else {
    sb_puts(&b, "null");
  }
  if (r->form) {
    sb_puts(&b, ",\"form\":");
    form_json(&b, r->form);
  }
  if (r->body_len > 0 && !r->too_large) {
    sb_printf(&b, ",\"body_len\":%zu,\"body_sha256\":", r->body_len);
    sha256_hex(&b, r->body, r->body_len);
  }
  sb_puts(&b, "}");
  record_line(sb_steal(&b, NULL));
}

/* Ends the TCP connection of conn now, whatever libmicrohttpd does next with it: FIN to the peer
 * after the bytes already queued, and nothing more read. MHD still owns (and closes) the fd; its
 * next read or write fails and it drops the connection. Used by hang_up and disconnect_after, so a
 * client sees EOF at once instead of waiting for a timeout (issue #18). */
static void hard_close(struct MHD_Connection *conn)
{
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci && ci->connect_fd != MHD_INVALID_SOCKET) shutdown(ci->connect_fd, SHUT_RDWR);
}

/* gzip (RFC 1952) of p[0..n) into a malloc'd buffer; NULL on failure. */
static char *gzip_buf(const char *p, size_t n, size_t *outlen)
{
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
  size_t cap = deflateBound(&z, (uLong)n) + 32;
  char *out = xrealloc(NULL, cap);
  z.next_in = (Bytef *)p;
  z.avail_in = (uInt)n;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap;
  int rc = deflate(&z, Z_FINISH);
  *outlen = cap - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  return out;
}

/* mock.gzip: the whole answer compressed, sent with Content-Encoding: gzip whatever the request's
 * Accept-Encoding said (a stream is rendered whole first, without its waits). */
static enum MHD_Result answer_gzip(struct req *r)
{
  const char *ctype = r->ctype ? r->ctype : "application/json";
  char *plain = r->resp;
  size_t plain_len = r->resp_len;
  r->resp = NULL;
  if (r->stream) {
    while (!r->ended && !r->cut) stream_next(r);
    plain = sb_steal(&r->ev, &plain_len);
    ctype = "text/event-stream";
  }
  size_t zlen = 0;
  char *z = gzip_buf(plain ? plain : "", plain ? plain_len : 0, &zlen);
  free(plain);
  if (!z) return MHD_NO;
  struct MHD_Response *resp = MHD_create_response_from_buffer(zlen, z, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(z);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
  add_extra_headers(resp, r->b.headers);
  enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result answer(struct req *r)
{
  if (r->hang_up || r->b.hang_up) { /* no response at all: close the connection */
    hard_close(r->conn);
    return MHD_NO;
  }
  if (r->replay) return replay_answer(r);
  if (r->b.gzip) return answer_gzip(r);
  if (!r->stream && r->aws_etype) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(r->resp_len, r->resp, MHD_RESPMEM_MUST_FREE);
    r->resp = NULL;
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, "x-amzn-ErrorType", r->aws_etype);
    MHD_add_response_header(resp, "x-amzn-RequestId", "5f8a2c1e-0000-4000-8000-mock00000000");
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
  }
  if (!r->stream) {
    char *body = r->resp;
    r->resp = NULL;
    return queue_buffer(r->conn, r->status, body, r->resp_len, r->ctype ? r->ctype : "application/json",
                        r->b.headers);
  }
  struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                                                stream_reader, r, NULL);
  if (!resp) return MHD_NO;
  if (r->route == RT_BEDROCK_STREAM) {
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/vnd.amazon.eventstream");
    MHD_add_response_header(resp, "x-amzn-bedrock-content-type", "application/json");
  } else {
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  add_extra_headers(resp, r->b.headers);
  enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* The request path before libmicrohttpd percent-decodes it (SigV4 signs the path as sent): the
 * unescape callback keeps it in the connection's socket context (one slot per connection). */
struct conn_ctx {
  char *raw_path;
};

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
  (void)cls, (void)c;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    *socket_context = xcalloc(1, sizeof(struct conn_ctx));
  } else if (*socket_context) {
    struct conn_ctx *x = *socket_context;
    free(x->raw_path);
    free(x);
    *socket_context = NULL;
  }
}

static size_t unescape_keep_raw(void *cls, struct MHD_Connection *c, char *s)
{
  (void)cls;
  if (strncmp(s, "/model/", 7) == 0) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_ctx *x = ci ? ci->socket_context : NULL;
    if (x) {
      free(x->raw_path);
      x->raw_path = xstrdup(s);
    }
  }
  return MHD_http_unescape(s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size, void **req_cls)
{
  (void)cls;
  (void)version;
  struct req *r = *req_cls;
  if (!r) { /* first call: headers only */
    r = xcalloc(1, sizeof *r);
    r->conn = conn;
    r->route = route_of(method, url);
    r->dialect = dialect_of(r->route);
    r->azure = strncmp(url, "/openai/", 8) == 0;
    if (r->route == RT_BEDROCK || r->route == RT_BEDROCK_STREAM) {
      const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
      struct conn_ctx *x = ci ? ci->socket_context : NULL;
      if (x && x->raw_path) r->raw_path = xstrdup(x->raw_path);
    }
    r->vertex = strncmp(url, VERTEX_PREFIX, strlen(VERTEX_PREFIX)) == 0 && r->route != RT_NOT_FOUND &&
                r->route != RT_BAD_METHOD;
    *req_cls = r;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
      unsigned long long n = strtoull(cl, NULL, 10);
      if (n > BODY_LIMIT) {
        r->too_large = true;
        return queue_error_now(conn, r->dialect, 413, "request body too large", "invalid_request_error",
                               "request_too_large");
      }
      if (n > 0) {
        r->body_cap = (size_t)n + 1;
        r->body = xrealloc(NULL, r->body_cap);
      }
    }
    return MHD_YES;
  }
  if (*upload_data_size > 0) { /* a piece of the body */
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (r->too_large) return MHD_YES;
    if (r->body_len + n > BODY_LIMIT) {
      r->too_large = true;
      return MHD_YES;
    }
    if (r->body_len + n + 1 > r->body_cap) {
      size_t ncap = r->body_cap ? r->body_cap : 4096;
      while (ncap < r->body_len + n + 1) ncap *= 2;
      r->body = xrealloc(r->body, ncap);
      r->body_cap = ncap;
    }
    memcpy(r->body + r->body_len, upload_data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return MHD_YES;
  }
  /* the whole request is in (or we were resumed after a delay) */
  if (r->route == RT_GCP_TOKEN) {
    if (r->phase == PH_BODY) record_request(r, method, url);
    if (atomic_load(&gcp_hold) && !atomic_load_explicit(&g_shutting, memory_order_relaxed)) {
      r->phase = PH_DELAYING;   /* held: looked at again every 50 ms */
      suspend_for(conn, 50);
      return MHD_YES;
    }
    return gcp_token(r);
  }
  if (r->route == RT_GCP_RELEASE) {
    atomic_store(&gcp_hold, false);
    return queue_buffer(conn, 200, xstrdup("{\"ok\":true}\n"), 12, "application/json", NULL);
  }
  if (r->phase == PH_BODY) {
    if (r->route == RT_MOCK_REQUESTS) {
      size_t len;
      char *body = record_list_json(&len);
      return queue_buffer(conn, 200, body, len, "application/json", NULL);
    }
    if (r->route == RT_MOCK_RESET) {
      record_reset();
      return queue_buffer(conn, 200, xstrdup("{\"ok\":true}\n"), 12, "application/json", NULL);
    }
    if (r->route == RT_MOCK_DEFAULTS) {
      char err[256];
      cJSON *doc = r->body_len > 0 && !r->too_large ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
      struct behaviour nb = startup_defaults;
      if (!doc || !apply_mock(&nb, doc, err, sizeof err)) {
        cJSON_Delete(doc);
        return queue_error_now(conn, DL_OPENAI, 400, doc ? err : "the body must be a JSON object of mock keys",
                               "invalid_request_error", "mock_invalid");
      }
      pthread_mutex_lock(&defaults_mu);
      cfg.defaults = nb;
      cJSON_Delete(defaults_doc);
      defaults_doc = doc;
      pthread_mutex_unlock(&defaults_mu);
      return queue_buffer(conn, 200, xstrdup("{\"ok\":true}\n"), 12, "application/json", NULL);
    }
    if (r->route == RT_WEBHOOK) {
      if (r->body_len > 0 && !r->too_large) r->doc = cJSON_ParseWithLength(r->body, r->body_len);
      record_request(r, method, url);
      return queue_buffer(conn, 200, xstrdup("{\"ok\":true}\n"), 12, "application/json", NULL);
    }
    if (r->route == RT_IMAGES_EDIT || r->route == RT_TRANSCRIBE || r->route == RT_TRANSLATE) {
      if (!r->too_large) r->form = form_parse(conn, r->body, r->body_len);
    } else if (r->body_len > 0 && !r->too_large) {
      r->doc = cJSON_ParseWithLength(r->body, r->body_len);
    }
    record_request(r, method, url);
    prepare(r, url);
    if (r->b.delay_ms > 0 && !atomic_load_explicit(&g_shutting, memory_order_relaxed)) {
      r->phase = PH_DELAYING;
      suspend_for(conn, r->b.delay_ms);
      return MHD_YES;
    }
  }
  r->phase = PH_ANSWER;
  return answer(r);
}

/* ------------------------------------------------------------------------------------------ */
/* startup and shutdown                                                                         */

static void usage(FILE *f)
{
  fputs(
      "usage: mock-upstream --port P [options]\n"
      "  --port P              port to listen on; 0 picks a free one\n"
      "  --host ADDR           address to bind (default 127.0.0.1; IPv4 or IPv6 literal)\n"
      "  --port-file FILE      write the bound port to FILE once listening\n"
      "  --record FILE         append one JSON line per request received (flushed)\n"
      "  --record-limit N      requests kept in memory for GET /__mock/requests (default 1000, 0 off)\n"
      "  --threads N           MHD worker threads (default 1)\n"
      "  --max-conns N         connection limit (default 20000, bounded by RLIMIT_NOFILE)\n"
      "  --models LIST         comma-separated ids for GET /v1/models\n"
      "  --verbose             libmicrohttpd error log to stderr\n"
      "  --mock JSON           default behaviour as a \"mock\" object (any key below)\n"
      "  --aws-access-key AK, --aws-secret SK, --aws-region R, --aws-session-token T\n"
      "                        the credentials Bedrock requests must be signed with (SigV4)\n"
      "  --gcp-public-key PEM  POST /token verifies service-account JWTs (RS256) with this public key\n"
      "  --gcp-token-ttl N     expires_in of the access tokens /token issues (default 3600)\n"
      "  --gcp-token-hold      /token answers nothing until POST /__mock/gcp-release\n"
      "behaviour defaults (per request: body \"mock\":{...} or header X-Mock: {...}, same keys):\n"
      "  --status CODE         status              answer CODE with an error body (the endpoint's API)\n"
      "  --delay-ms N          delay_ms            wait before answering\n"
      "  --first-byte-ms N     first_byte_ms       stream: headers, then wait before the first event\n"
      "  --chunks N            chunks              content words / chunks (default 5)\n"
      "  --chunk-gap-ms N      chunk_gap_ms        stream: wait between content events\n"
      "  --no-usage            no_usage            omit usage (non-stream and stream)\n"
      "  --echo-key            echo_key            error answers quote the key received\n"
      "  --disconnect-after N  disconnect_after    stream: cut after N content chunks, no [DONE];\n"
      "                                            non-stream: close without an answer\n"
      "  --error-after N       error_after         stream: in-band error event after N chunks\n"
      "  --prompt-tokens N     prompt_tokens       force the prompt / input token count\n"
      "  --completion-tokens N completion_tokens   force the completion / output token count\n"
      "                        headers             {name: value} extra response headers\n"
      "                        stall_after, stall_ms  stream: after N content chunks wait stall_ms once\n"
      "                        hang_up             true: close the connection without any answer\n"
      "                        malformed           true: stream starts with broken SSE events\n"
      "                        huge_event          stream: first one content event of N bytes\n"
      "                        drip_ms             stream: one byte at a time, N ms apart\n"
      "                        replay              {\"file\": PATH, \"content_type\": T, \"status\": S,\n"
      "                                            \"chunk_bytes\": N, \"stop_after_bytes\": N}: answer ANY\n"
      "                                            endpoint (model, stream flag, keys and the status key\n"
      "                                            ignored; from X-Mock or the defaults also a request with\n"
      "                                            no JSON body) with PATH's bytes exactly, e.g. a recorded SSE\n"
      "                                            stream or JSON body. content_type defaults to\n"
      "                                            application/json, status to 200; files over 8 MiB are\n"
      "                                            refused (400 mock_invalid, like a missing file). Without\n"
      "                                            chunk_bytes the body goes at once with Content-Length;\n"
      "                                            with it, chunked in pieces of N bytes (one HTTP chunk each\n"
      "                                            up to MHD's buffer), first_byte_ms before the first and\n"
      "                                            chunk_gap_ms between pieces. stop_after_bytes N: close the\n"
      "                                            connection after N bytes with no end of body (no final\n"
      "                                            chunk), even when N >= the file size. null: replay off\n"
      "                        gzip                true: the body gzip-compressed (Content-Encoding: gzip),\n"
      "                                            asked for or not (a stream is rendered whole first)\n"
      "                        raw                 STRING: the answer's body is exactly this (status from\n"
      "                                            status, default 200; SSE type for a stream request)\n"
      "                        reject_keys         K1,K2: a request sent with one of these upstream keys gets\n"
      "                                            401 invalid_api_key (a revoked key; key pools' tests)\n"
      "                        reject_field        NAME: a request with top-level field NAME gets the API's\n"
      "                                            real 400 for an unknown field, quoting NAME\n"
      "                        strict              true: refuse what the real API refuses in a request\n"
      "                                            (strict_refusal: Anthropic roles, temperature+top_p;\n"
      "                                            OpenAI reasoning models' max_tokens / temperature,\n"
      "                                            reasoning_effort elsewhere; Gemini's Schema subset in\n"
      "                                            tools, thinkingLevel before Gemini 3), with its 400\n"
      "                        bad_crc             N: Bedrock stream, frame N gets a wrong message CRC\n"
      "                        balance             N: what the balance endpoints report is left (default 100)\n"
      "                        agent               {\"tool\":NAME,\"args\":{...},\"expect\":TEXT,\"answer\":TEXT}:\n"
      "                                            a scripted tool round trip in every format (agent_turn):\n"
      "                                            a request offering tool NAME gets a call of it with\n"
      "                                            args; one carrying a tool result gets the text ANSWER\n"
      "                                            if some result contains EXPECT (else says it did not)\n"
      "                        (echo_key also makes the in-band error_after event quote the key)\n"
      "endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings; GET /v1/models[/ID];\n"
      "  GET /__mock/requests (recorded requests, JSON array), POST /__mock/reset (forget them).\n"
      "  POST /__mock/defaults {mock keys}: the defaults become the startup flags plus these keys.\n"
      "  POST /webhook...: answered 200 {\"ok\":true} and recorded (a webhook receiver).\n"
      "  GET balance endpoints in each provider's shape (mock key balance, default 100, is what is\n"
      "    left): /v1/dashboard/billing/subscription + /usage (OpenAI), /user/balance (DeepSeek),\n"
      "    /v1/credits (OpenRouter), /v1/user/info (SiliconFlow), /v1/users/me/balance (Moonshot).\n"
      "  POST /v1/messages (Anthropic; needs x-api-key and anthropic-version headers; a tool_use\n"
      "    answer when \"tools\" are given and the last user message says \"use tool\"; the same\n"
      "    rule gives chat tool_calls and Gemini functionCall answers, streamed or not),\n"
      "  POST /v1beta/models/M:generateContent, M:streamGenerateContent?alt=sse (Gemini; needs\n"
      "    x-goog-api-key or ?key=); M:countTokens and POST /v1/messages/count_tokens (1000 + messages,\n"
      "    or prompt_tokens); M:embedContent, M:batchEmbedContents (requests[].model = models/M); POST /openai/deployments/D/chat/completions?api-version=V\n"
      "    (Azure; needs api-key; answered like /v1/chat/completions, model D unless the body has one).\n"
      "  Media: POST /v1/responses (stream: response.created ... response.completed events; usage\n"
      "    input_tokens = 10 + input items, cached = mock.cached_tokens), /v1/images/generations and\n"
      "    /v1/images/edits (multipart; n images; gpt-image-* answers b64_json with token usage; the\n"
      "    edit answer echoes the parsed form as mock_form), /v1/audio/speech (audio bytes: \"ID3\\4\\0\"\n"
      "    then 100+len(input) bytes (i*7+len(input))&255), /v1/audio/transcriptions|translations\n"
      "    (multipart; duration = file bytes / 1000 s; json, text, srt, vtt, verbose_json),\n"
      "    /v1/moderations, /v1/rerank (needs Authorization; jina-* models answer Jina's shape with\n"
      "    usage.total_tokens = 10 + 5 x documents, others Cohere's with search_units = ceil(docs/100)).\n"
      "    Multipart requests take their mock object from a form field \"mock\". Recorded requests carry\n"
      "    body_len, body_sha256 and, for multipart, the parsed form.\n"
      "  POST /model/ID/invoke, /model/ID/invoke-with-response-stream (AWS Bedrock, Anthropic models:\n"
      "    SigV4 checked against --aws-* (403 with AWS's {\"message\"} and x-amzn-ErrorType when it does\n"
      "    not match); the body must have anthropic_version bedrock-2023-05-31 and no model or stream;\n"
      "    answered as /v1/messages for model ID, the stream in event-stream frames of base64 chunks).\n"
      "  Errors (status, bad requests) come in the shape of the endpoint's API.\n"
      "usage numbers: prompt_tokens = 10 + messages (prompts, inputs, contents; +1 for an Anthropic\n"
      "  system or Gemini systemInstruction); completion_tokens = chunks; content = chunks x \"hello \".\n",
      f);
}

static long parse_num(const char *opt, const char *s, long lo, long hi)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "mock-upstream: %s wants a number in [%ld, %ld], not '%s'\n", opt, lo, hi, s);
    exit(2);
  }
  return v;
}

static void set_models(const char *csv)
{
  for (size_t i = 0; i < cfg.nmodels; i++) free(cfg.models[i]);
  free(cfg.models);
  cfg.models = NULL;
  cfg.nmodels = 0;
  const char *p = csv;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n > 0) {
      cfg.models = xrealloc(cfg.models, (cfg.nmodels + 1) * sizeof *cfg.models);
      char *s = xrealloc(NULL, n + 1);
      memcpy(s, p, n);
      s[n] = '\0';
      cfg.models[cfg.nmodels++] = s;
    }
    p += n;
    if (*p == ',') p++;
  }
}

static void build_models_json(void)
{
  struct sbuf b = {0};
  sb_puts(&b, "{\"object\":\"list\",\"data\":[");
  for (size_t i = 0; i < cfg.nmodels; i++) {
    sb_puts(&b, i ? ",{\"id\":" : "{\"id\":");
    sb_json_str(&b, cfg.models[i]);
    sb_puts(&b, ",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"mock\"}");
  }
  sb_puts(&b, "]}\n");
  cfg.models_json = sb_steal(&b, NULL);
}

static void parse_args(int argc, char **argv)
{
  enum { O_PORT = 256, O_HOST, O_RECORD, O_PORTFILE, O_RECLIMIT, O_THREADS, O_MAXCONNS, O_MODELS,
         O_VERBOSE, O_STATUS, O_DELAY, O_FIRSTBYTE, O_CHUNKS, O_GAP, O_NOUSAGE, O_ECHOKEY, O_DISC, O_ERRAFTER,
         O_PTOK, O_CTOK, O_MOCK, O_AWS_AK, O_AWS_SK, O_AWS_TOKEN, O_AWS_REGION, O_GCPKEY, O_GCPTTL, O_GCPHOLD,
         O_HELP };
  static cJSON *mock_doc;   /* --mock: parsed once, kept for the process (headers point into it) */
  static const struct option opts[] = {
      {"port", required_argument, NULL, O_PORT},
      {"host", required_argument, NULL, O_HOST},
      {"record", required_argument, NULL, O_RECORD},
      {"port-file", required_argument, NULL, O_PORTFILE},
      {"record-limit", required_argument, NULL, O_RECLIMIT},
      {"threads", required_argument, NULL, O_THREADS},
      {"max-conns", required_argument, NULL, O_MAXCONNS},
      {"models", required_argument, NULL, O_MODELS},
      {"verbose", no_argument, NULL, O_VERBOSE},
      {"status", required_argument, NULL, O_STATUS},
      {"delay-ms", required_argument, NULL, O_DELAY},
      {"first-byte-ms", required_argument, NULL, O_FIRSTBYTE},
      {"chunks", required_argument, NULL, O_CHUNKS},
      {"chunk-gap-ms", required_argument, NULL, O_GAP},
      {"no-usage", no_argument, NULL, O_NOUSAGE},
      {"echo-key", no_argument, NULL, O_ECHOKEY},
      {"disconnect-after", required_argument, NULL, O_DISC},
      {"error-after", required_argument, NULL, O_ERRAFTER},
      {"mock", required_argument, NULL, O_MOCK},
      {"prompt-tokens", required_argument, NULL, O_PTOK},
      {"completion-tokens", required_argument, NULL, O_CTOK},
      {"aws-access-key", required_argument, NULL, O_AWS_AK},
      {"aws-secret", required_argument, NULL, O_AWS_SK},
      {"aws-session-token", required_argument, NULL, O_AWS_TOKEN},
      {"aws-region", required_argument, NULL, O_AWS_REGION},
      {"gcp-public-key", required_argument, NULL, O_GCPKEY},
      {"gcp-token-ttl", required_argument, NULL, O_GCPTTL},
      {"gcp-token-hold", no_argument, NULL, O_GCPHOLD},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0},
  };
  cfg.host = "127.0.0.1";
  cfg.threads = 1;
  cfg.max_conns = 20000;
  cfg.record_limit = 1000;
  cfg.defaults = (struct behaviour){.status = 200, .chunks = 5, .disconnect_after = -1, .balance = 100.0,
                                    .error_after = -1, .prompt_tokens = -1, .completion_tokens = -1,
                                    .stall_after = -1};
  bool have_port = false;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case O_PORT: cfg.port = (unsigned)parse_num("--port", optarg, 0, 65535); have_port = true; break;
    case O_HOST: cfg.host = optarg; break;
    case O_RECORD: cfg.record_path = optarg; break;
    case O_PORTFILE: cfg.port_file = optarg; break;
    case O_RECLIMIT: cfg.record_limit = parse_num("--record-limit", optarg, 0, 10000000); break;
    case O_THREADS: cfg.threads = (unsigned)parse_num("--threads", optarg, 1, 256); break;
    case O_MAXCONNS:
      cfg.max_conns = (unsigned)parse_num("--max-conns", optarg, 1, 1000000);
      cfg.max_conns_set = true;
      break;
    case O_MODELS: set_models(optarg); break;
    case O_VERBOSE: cfg.verbose = true; break;
    case O_STATUS: cfg.defaults.status = (int)parse_num("--status", optarg, 100, 599); break;
    case O_DELAY: cfg.defaults.delay_ms = parse_num("--delay-ms", optarg, 0, MAX_WAIT_MS); break;
    case O_FIRSTBYTE:
      cfg.defaults.first_byte_ms = parse_num("--first-byte-ms", optarg, 0, MAX_WAIT_MS);
      break;
    case O_CHUNKS: cfg.defaults.chunks = parse_num("--chunks", optarg, 0, MAX_CHUNKS); break;
    case O_GAP: cfg.defaults.chunk_gap_ms = parse_num("--chunk-gap-ms", optarg, 0, MAX_WAIT_MS); break;
    case O_NOUSAGE: cfg.defaults.no_usage = true; break;
    case O_ECHOKEY: cfg.defaults.echo_key = true; break;
    case O_DISC:
      cfg.defaults.disconnect_after = parse_num("--disconnect-after", optarg, -1, MAX_CHUNKS);
      break;
    case O_ERRAFTER: cfg.defaults.error_after = parse_num("--error-after", optarg, -1, MAX_CHUNKS); break;
    case O_PTOK: cfg.defaults.prompt_tokens = parse_num("--prompt-tokens", optarg, -1, INT_MAX); break;
    case O_CTOK:
      cfg.defaults.completion_tokens = parse_num("--completion-tokens", optarg, -1, INT_MAX);
      break;
    case O_MOCK: {
      char err[256];
      cJSON_Delete(mock_doc);
      mock_doc = cJSON_Parse(optarg);
      if (!mock_doc || !apply_mock(&cfg.defaults, mock_doc, err, sizeof err)) {
        fprintf(stderr, "mock-upstream: --mock: %s\n", mock_doc ? err : "not valid JSON");
        exit(2);
      }
      break;
    }
    case O_AWS_AK: cfg.aws_access_key = optarg; break;
    case O_AWS_SK: cfg.aws_secret = optarg; break;
    case O_AWS_TOKEN: cfg.aws_token = optarg; break;
    case O_AWS_REGION: cfg.aws_region = optarg; break;
    case O_GCPKEY: {
      FILE *f = fopen(optarg, "r");
      gcp_pubkey = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
      if (f) fclose(f);
      if (!gcp_pubkey) {
        fprintf(stderr, "mock-upstream: --gcp-public-key: cannot read a PEM public key from %s\n", optarg);
        exit(2);
      }
      break;
    }
    case O_GCPTTL: gcp_token_ttl = parse_num("--gcp-token-ttl", optarg, 1, 86400); break;
    case O_GCPHOLD: atomic_store(&gcp_hold, true); break;
    case O_HELP:
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); exit(2);
    }
  }
  if (optind < argc) {
    fprintf(stderr, "mock-upstream: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    exit(2);
  }
  if (!have_port) {
    fputs("mock-upstream: --port is required (0 picks a free port)\n", stderr);
    usage(stderr);
    exit(2);
  }
  if (cfg.nmodels == 0) set_models("gpt-4o,gpt-4o-mini,gpt-3.5-turbo,text-embedding-3-small");
  build_models_json();
  startup_defaults = cfg.defaults;
}

/* Raises RLIMIT_NOFILE as far as allowed; returns the soft limit now in force. */
static rlim_t raise_nofile(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

static void write_port_file(unsigned port)
{
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", cfg.port_file) >= (int)sizeof tmp) die("--port-file path too long");
  FILE *f = fopen(tmp, "w");
  if (!f) {
    perror("mock-upstream: port file");
    exit(2);
  }
  fprintf(f, "%u\n", port);
  if (fclose(f) != 0 || rename(tmp, cfg.port_file) != 0) {
    perror("mock-upstream: port file");
    exit(2);
  }
}

int main(int argc, char **argv)
{
  parse_args(argc, argv);

  /* Signals: blocked everywhere (threads inherit the mask) and taken with sigwait below. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  /* A shell starts background jobs with SIGINT ignored; an ignored signal is dropped, not queued
   * for sigwait, so restore the default disposition (the signals stay blocked). */
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGPIPE, SIG_IGN);

  rlim_t nofile = raise_nofile();
  unsigned conns = cfg.max_conns;
  if (nofile < (rlim_t)conns + 64) {
    conns = nofile > 128 ? (unsigned)(nofile - 64) : 64;
    if (cfg.max_conns_set)
      fprintf(stderr, "mock-upstream: RLIMIT_NOFILE %llu: connection limit lowered to %u\n",
            (unsigned long long)nofile, conns);
  }

  if (cfg.record_path) {
    R.file = fopen(cfg.record_path, "a");
    if (!R.file) {
      perror("mock-upstream: --record");
      return 2;
    }
  }
  if (cfg.record_limit > 0) R.ring = xcalloc((size_t)cfg.record_limit, sizeof *R.ring);

  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
                   MHD_USE_SUPPRESS_DATE_NO_CLOCK;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, cfg.host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)cfg.port);
  } else if (inet_pton(AF_INET6, cfg.host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)cfg.port);
    flags |= MHD_USE_IPv6;
  } else {
    fprintf(stderr, "mock-upstream: --host wants an IP address literal, not '%s'\n", cfg.host);
    return 2;
  }
  if (cfg.verbose) flags |= MHD_USE_ERROR_LOG;

  struct MHD_OptionItem ops[12];
  size_t no = 0;
  ops[no++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
  ops[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)conns, NULL};
  ops[no++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096, NULL};
  ops[no++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL};
  ops[no++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, NULL};
  ops[no++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_keep_raw, NULL};
  ops[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 0, NULL};
  ops[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY, NULL};
  if (cfg.threads > 1)
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg.threads, NULL};
  ops[no++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

  timer_start();
  struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)cfg.port, NULL, NULL, on_request, NULL,
                                          MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "mock-upstream: cannot listen on %s:%u (%s)\n", cfg.host, cfg.port, strerror(errno));
    return 2;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  unsigned port = info ? info->port : cfg.port;
  if (cfg.port_file) write_port_file(port);
  printf("listening on %u\n", port);
  fflush(stdout);

  int sig = 0;
  while (sigwait(&sigs, &sig) != 0) {
  }

  atomic_store(&g_shutting, true);
  timer_stop_and_resume_all();
  MHD_stop_daemon(d);

  pthread_mutex_lock(&R.mu);
  if (cfg.record_limit > 0) record_clear_locked();
  free(R.ring);
  if (R.file) fclose(R.file);
  pthread_mutex_unlock(&R.mu);
  for (size_t i = 0; i < cfg.nmodels; i++) free(cfg.models[i]);
  free(cfg.models);
  free(cfg.models_json);
  cJSON_Delete(defaults_doc);
  return 0;
}
