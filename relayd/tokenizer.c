/* tokenizer: see tokenizer.h. The merge follows tiktoken's _byte_pair_merge (src/lib.rs of
 * github.com/openai/tiktoken): repeatedly merge the adjacent pair whose merged bytes have the
 * lowest rank, the leftmost on ties; here with a heap instead of a scan. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <errno.h>
#include <pcre2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "log.h"

#define NO_RANK UINT32_MAX
#define FILE_MAX ((long)64 << 20)        /* an encoders JSON file is ~4 MB */
#define MATCH_LIMIT 10000000u            /* PCRE2 backtracking steps for one match */

struct slot {
  uint32_t off;        /* into pool */
  uint32_t len;        /* 0: empty slot */
  uint32_t rank;
};

struct tokenizer {
  char name[32];
  char *pool;          /* every token's bytes, back to back (owned) */
  size_t pool_len;
  struct slot *slots;  /* open addressing, power of two (owned) */
  size_t nslots, nranks, max_len;
  pcre2_code *re;      /* the encoding's pat_str, JIT-compiled (owned) */
};

static uint64_t rank_hash(const unsigned char *p, size_t n)
{
  uint64_t h = 1469598103934665603ULL;    /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static uint32_t rank_of(const struct tokenizer *t, const unsigned char *p, size_t n)
{
  if (n > t->max_len)
    return NO_RANK;
  size_t mask = t->nslots - 1;
  for (size_t i = rank_hash(p, n) & mask;; i = (i + 1) & mask) {
    const struct slot *s = &t->slots[i];
    if (s->len == 0)
      return NO_RANK;
    if (s->len == n && memcmp(t->pool + s->off, p, n) == 0)
      return s->rank;
  }
}

static int insert(struct tokenizer *t, const unsigned char *p, size_t n, uint32_t rank)
{
  size_t mask = t->nslots - 1;
  for (size_t i = rank_hash(p, n) & mask;; i = (i + 1) & mask) {
    struct slot *s = &t->slots[i];
    if (s->len == 0) {
      memcpy(t->pool + t->pool_len, p, n);
      *s = (struct slot){.off = (uint32_t)t->pool_len, .len = (uint32_t)n, .rank = rank};
      t->pool_len += n;
      t->nranks++;
      if (n > t->max_len)
        t->max_len = n;
      return 0;
    }
    if (s->len == n && memcmp(t->pool + s->off, p, n) == 0)
      return -1;         /* a token twice: not a rank file */
  }
}

/* The whole file, NUL-terminated (caller frees), or NULL. */
static char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  char *p = NULL;
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= FILE_MAX && fseek(f, 0, SEEK_SET) == 0 &&
      (p = malloc((size_t)n + 1)) && fread(p, 1, (size_t)n, f) == (size_t)n) {
    p[n] = '\0';
    *len = (size_t)n;
  } else {
    snprintf(err, errlen, "%s: %s", path, n > FILE_MAX ? "larger than 64 MiB" : "cannot be read");
    free(p);
    p = NULL;
  }
  fclose(f);
  return p;
}

/* bpe_ranks as tiktoken's npm package writes it: lines "X OFFSET TOKEN TOKEN ...", each TOKEN the
 * base64 of a token's bytes, ranks OFFSET, OFFSET+1, ... (the first word is not used). */
static int load_ranks(struct tokenizer *t, const char *s, char *err, size_t errlen)
{
  size_t words = 0, bytes = strlen(s);
  for (const char *q = s; *q; q++)
    words += *q == ' ' || *q == '\n';
  /* every token's bytes fit in its base64 length */
  t->nslots = 1;
  while (t->nslots < 2 * (words + 1))
    t->nslots <<= 1;
  t->slots = calloc(t->nslots, sizeof *t->slots);
  t->pool = malloc(bytes + 1);
  if (!t->slots || !t->pool) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  unsigned char dec[512];
  const char *line = s;
  while (*line) {
    const char *eol = strchr(line, '\n');
    if (!eol)
      eol = line + strlen(line);
    const char *w = memchr(line, ' ', (size_t)(eol - line));   /* skip the first word */
    if (w) {
      char *endp;
      unsigned long long rank = strtoull(w + 1, &endp, 10);
      w = endp;
      while (w < eol) {
        while (w < eol && *w == ' ')
          w++;
        const char *we = w;
        while (we < eol && *we != ' ')
          we++;
        size_t wl = (size_t)(we - w);
        if (wl == 0)
          break;
        if (wl % 4 || wl / 4 * 3 > sizeof dec || rank >= NO_RANK) {
          snprintf(err, errlen, "a token of bpe_ranks is not base64 of at most %zu bytes", sizeof dec);
          return -1;
        }
        int n = EVP_DecodeBlock(dec, (const unsigned char *)w, (int)wl);
        if (n < 0) {
          snprintf(err, errlen, "a token of bpe_ranks is not base64");
          return -1;
        }
        n -= (w[wl - 1] == '=') + (w[wl - 2] == '=');   /* DecodeBlock counts the padding */
        if (n <= 0 || insert(t, dec, (size_t)n, (uint32_t)rank) < 0) {
          snprintf(err, errlen, "bpe_ranks holds an empty or repeated token");
          return -1;
        }
        rank++;
        w = we;
      }
    }
    line = *eol ? eol + 1 : eol;
  }
  if (t->nranks < 256) {
    snprintf(err, errlen, "bpe_ranks holds %zu tokens, fewer than the 256 single bytes", t->nranks);
    return -1;
  }
  for (int b = 0; b < 256; b++) {
    unsigned char c = (unsigned char)b;
    if (rank_of(t, &c, 1) == NO_RANK) {
      snprintf(err, errlen, "bpe_ranks has no token for byte %d", b);
      return -1;
    }
  }
  return 0;
}

struct tokenizer *tokenizer_load(const char *path, const char *name, char *err, size_t errlen)
{
  size_t len;
  char *text = read_all(path, &len, err, errlen);
  if (!text)
    return NULL;
  cJSON *j = cJSON_ParseWithLength(text, len);
  free(text);
  struct tokenizer *t = calloc(1, sizeof *t);
  const char *pat = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "pat_str"));
  const char *ranks = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "bpe_ranks"));
  if (!t || !pat || !ranks) {
    snprintf(err, errlen, "%s: not an encoder file (no pat_str and bpe_ranks strings)", path);
    goto fail;
  }
  snprintf(t->name, sizeof t->name, "%s", name);
  if (load_ranks(t, ranks, err, errlen) < 0)
    goto fail;
  int ec;
  PCRE2_SIZE eo;
  /* UCP: \s, \p{..} and (?i) by Unicode, as tiktoken's fancy-regex does; invalid UTF-8 is never
   * matched (its bytes are counted as gaps, byte by byte) instead of failing the whole text */
  t->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                        &ec, &eo, NULL);
  if (!t->re) {
    PCRE2_UCHAR msg[128];
    pcre2_get_error_message(ec, msg, sizeof msg);
    snprintf(err, errlen, "%s: pat_str does not compile at %zu: %s", path, (size_t)eo, (char *)msg);
    goto fail;
  }
  /* without JIT (an unsupported CPU) matching still works, slower */
  pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD);
  cJSON_Delete(j);
  return t;
fail:
  cJSON_Delete(j);
  tokenizer_free(t);
  return NULL;
}

void tokenizer_free(struct tokenizer *t)
{
  if (!t)
    return;
  pcre2_code_free(t->re);
  free(t->slots);
  free(t->pool);
  free(t);
}

const char *tokenizer_name(const struct tokenizer *t)
{
  return t->name;
}

size_t tokenizer_vocab(const struct tokenizer *t)
{
  return t->nranks;
}

/* ---- the merge ---- */

struct hent {
  uint32_t rank, pos, ver;
};

static bool hless(const struct hent *a, const struct hent *b)
{
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void hpush(struct hent *h, size_t *n, struct hent e)
{
  size_t i = (*n)++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!hless(&e, &h[p]))
      break;
    h[i] = h[p];
    i = p;
  }
  h[i] = e;
}

static struct hent hpop(struct hent *h, size_t *n)
{
  struct hent top = h[0], last = h[--(*n)];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n)
      break;
    if (c + 1 < *n && hless(&h[c + 1], &h[c]))
      c++;
    if (!hless(&h[c], &last))
      break;
    h[i] = h[c];
    i = c;
  }
  if (*n)
    h[i] = last;
  return top;
}

/* Tokens of one piece of at most TOKENIZER_MAX_PIECE bytes. */
static int64_t bpe_piece(const struct tokenizer *t, const unsigned char *p, size_t m)
{
  if (m <= 1 || rank_of(t, p, m) != NO_RANK)
    return m ? 1 : 0;
  /* node i covers p[i..nxt[i]); dead nodes have ver = UINT32_MAX */
  uint32_t stack_mem[4 * 128];
  struct hent stack_heap[3 * 128];
  uint32_t *mem = stack_mem;
  struct hent *heap = stack_heap;
  if (m > 128) {
    mem = malloc(4 * m * sizeof *mem);
    heap = malloc(3 * m * sizeof *heap);
    if (!mem || !heap) {
      free(mem == stack_mem ? NULL : mem);
      free(heap == stack_heap ? NULL : heap);
      return (int64_t)(m + 3) / 4;
    }
  }
  uint32_t *nxt = mem, *prv = mem + m, *ver = mem + 2 * m;
  size_t hn = 0;
  for (size_t i = 0; i < m; i++) {
    nxt[i] = (uint32_t)(i + 1);
    prv[i] = i ? (uint32_t)(i - 1) : UINT32_MAX;
    ver[i] = 0;
  }
  for (size_t i = 0; i + 1 < m; i++) {
    uint32_t r = rank_of(t, p + i, 2);
    if (r != NO_RANK)
      hpush(heap, &hn, (struct hent){r, (uint32_t)i, 0});
  }
  int64_t tokens = (int64_t)m;
  while (hn) {
    struct hent e = hpop(heap, &hn);
    if (ver[e.pos] != e.ver)
      continue;                   /* stale: the node changed or died since */
    uint32_t i = e.pos, j = nxt[i];
    /* merge j into i */
    nxt[i] = nxt[j];
    if (nxt[j] < m)
      prv[nxt[j]] = i;
    ver[j] = UINT32_MAX;
    ver[i]++;
    tokens--;
    if (nxt[i] < m) {
      uint32_t r = rank_of(t, p + i, nxt[nxt[i]] - i);
      if (r != NO_RANK)
        hpush(heap, &hn, (struct hent){r, i, ver[i]});
    }
    uint32_t k = prv[i];
    if (k != UINT32_MAX) {
      ver[k]++;
      uint32_t r = rank_of(t, p + k, nxt[i] - k);
      if (r != NO_RANK)
        hpush(heap, &hn, (struct hent){r, k, ver[k]});
    }
  }
  if (mem != stack_mem) {
    free(mem);
    free(heap);
  }
  return tokens;
}

/* A piece of any length: merged in slices of at most TOKENIZER_MAX_PIECE bytes, cut before a
 * UTF-8 lead byte where one is near. */
static int64_t bpe_any(const struct tokenizer *t, const unsigned char *p, size_t n)
{
  int64_t tokens = 0;
  while (n > TOKENIZER_MAX_PIECE) {
    size_t cut = TOKENIZER_MAX_PIECE;
    for (size_t back = 0; back < 4 && (p[cut] & 0xC0) == 0x80; back++)
      cut--;
    tokens += bpe_piece(t, p, cut);
    p += cut;
    n -= cut;
  }
  return tokens + bpe_piece(t, p, n);
}

/* Counts text[0..len). With open_end (a running count, more text may follow), a piece whose
 * matching looked at the end of the text (PCRE2's hard partial match: e.g. a whitespace run that
 * the next byte may extend, or one a later newline would join) is not counted: *rest is set to
 * where it starts. Else every byte is counted and *rest = len. */
static int64_t count_text(const struct tokenizer *t, const char *text, size_t len, bool open_end, size_t *rest)
{
  const unsigned char *s = (const unsigned char *)text;
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
  pcre2_match_context *mc = pcre2_match_context_create(NULL);
  int64_t tokens = 0;
  size_t pos = 0;
  *rest = len;
  if (!md || !mc) {
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    return (int64_t)(len + 3) / 4;
  }
  pcre2_set_match_limit(mc, MATCH_LIMIT);
  size_t end = len;               /* < len: matching within a 64 KiB window after the match limit */
  while (pos < len) {
    int rc = pcre2_match(t->re, s, end, pos, open_end && end == len ? PCRE2_PARTIAL_HARD : 0, md, mc);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && rc != PCRE2_ERROR_PARTIAL && end - pos > TOKENIZER_MAX_PIECE) {
      /* past the match limit: a run of many megabytes (e.g. whitespace, which one alternative
       * backtracks over): matched again within a window, as a long piece is merged in slices */
      end = pos + TOKENIZER_MAX_PIECE;
      continue;
    }
    if (end < len && rc == PCRE2_ERROR_NOMATCH) {
      tokens += bpe_any(t, s + pos, end - pos);
      pos = end;
      end = len;
      continue;
    }
    if (rc == PCRE2_ERROR_NOMATCH && open_end) {
      *rest = pos;                /* e.g. a character cut between two reads: wait for the rest */
      pos = len;
      break;
    }
    if (rc == PCRE2_ERROR_NOMATCH)
      break;
    if (rc == PCRE2_ERROR_PARTIAL) {
      *rest = pos;                /* from here on, the next bytes may change the pieces */
      pos = len;
      break;
    }
    if (rc < 0) {
      /* past the match limit within a window too (or any other failure): the rest is characters/4 */
      tokens += (int64_t)(len - pos + 3) / 4;
      pos = len;
      break;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t ms = ov[0], me = ov[1];
    if (ms > len)
      ms = len;
    if (me <= ms)
      me = ms + 1;                /* an empty match never happens with these patterns: step on */
    if (me > end)
      me = end;
    if (ms > pos)
      tokens += bpe_any(t, s + pos, ms - pos);    /* bytes no alternative matched (invalid UTF-8) */
    tokens += bpe_any(t, s + ms, me - ms);
    pos = me;
    if (end < len)                /* windowed: the run goes on while matches reach the window's end */
      end = me < end ? len : (len - me > TOKENIZER_MAX_PIECE ? me + TOKENIZER_MAX_PIECE : len);
  }
  if (pos < len)
    tokens += bpe_any(t, s + pos, len - pos);
  pcre2_match_data_free(md);
  pcre2_match_context_free(mc);
  return tokens;
}

int64_t tokenizer_count(const struct tokenizer *t, const char *text, size_t len)
{
  if (!t)
    return (int64_t)(len + 3) / 4;   /* no encoding for the model: characters/4 */
  size_t rest;
  return count_text(t, text, len, false, &rest);
}

/* keys whose values hold a request's text, at the top of a body */
static bool is_input_root(const char *k)
{
  static const char *const keys[] = {"messages", "system", "contents", "systemInstruction", "system_instruction",
                                     "input", "instructions", "prompt", "tools", NULL};
  for (const char *const *p = keys; k && *p; p++)
    if (strcmp(k, *p) == 0)
      return true;
  return false;
}

/* keys whose string values are no text to the model */
static bool is_not_text(const char *k)
{
  static const char *const keys[] = {"role", "type", "id", "tool_call_id", "tool_use_id", "url", "image_url",
                                     "data", "mime_type", "mimeType", "media_type", "file_id", "fileUri",
                                     "file_uri", "signature", "thoughtSignature", "thought_signature",
                                     "cache_control", "detail", "format", NULL};
  for (const char *const *p = keys; k && *p; p++)
    if (strcmp(k, *p) == 0)
      return true;
  return false;
}

static int64_t count_strings(const struct tokenizer *t, const cJSON *node, int depth)
{
  int64_t n = 0;
  if (depth > CJSON_NESTING_LIMIT)
    return 0;
  for (const cJSON *c = node ? node->child : NULL; c; c = c->next) {
    if (cJSON_IsString(c) && !is_not_text(c->string))
      n += tokenizer_count(t, c->valuestring, strlen(c->valuestring));
    else if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && !is_not_text(c->string))
      n += count_strings(t, c, depth + 1);
  }
  return n;
}

int64_t tokenizer_count_request(const struct tokenizer *t, const char *body, size_t len)
{
  cJSON *j = cJSON_ParseWithLength(body, len);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return -1;
  }
  int64_t n = 0;
  for (const cJSON *c = j->child; c; c = c->next) {
    if (!is_input_root(c->string))
      continue;
    if (cJSON_IsString(c))
      n += tokenizer_count(t, c->valuestring, strlen(c->valuestring));
    else
      n += count_strings(t, c, 1);
  }
  cJSON_Delete(j);
  return n;
}

/* ---- which encoding ---- */

static const struct {
  const char *prefix;
  const char *encoding;
} model_prefixes[] = {
    /* tiktoken's model.py MODEL_PREFIX_TO_ENCODING and MODEL_TO_ENCODING, by family */
    {"o1", "o200k_base"},          {"o3", "o200k_base"},          {"o4", "o200k_base"},
    {"gpt-5", "o200k_base"},       {"gpt-4.1", "o200k_base"},     {"gpt-4.5", "o200k_base"},
    {"gpt-4o", "o200k_base"},      {"chatgpt-4o", "o200k_base"},  {"gpt-oss", "o200k_base"},
    {"gpt-4", "cl100k_base"},      {"gpt-3.5", "cl100k_base"},    {"gpt-35", "cl100k_base"},
    {"text-embedding-3", "cl100k_base"}, {"text-embedding-ada-002", "cl100k_base"},
};

const char *tokenizer_encoding_for_model(const char *model)
{
  if (!model)
    return NULL;
  const char *slash = strrchr(model, '/');     /* "openai/gpt-4o" as routers name it */
  if (slash)
    model = slash + 1;
  for (size_t i = 0; i < sizeof model_prefixes / sizeof model_prefixes[0]; i++) {
    size_t n = strlen(model_prefixes[i].prefix);
    if (strncmp(model, model_prefixes[i].prefix, n) == 0)
      return model_prefixes[i].encoding;
  }
  return NULL;
}

/* set once by tokenizer_setup, before the workers start; read-only after */
static struct tokenizer *loaded[2];
static const char *const encodings[2] = {"o200k_base", "cl100k_base"};
/* moves with every setup and teardown: a thread's remembered lookup of another generation is stale */
static _Atomic unsigned loaded_gen = 1;

void tokenizer_teardown(void)
{
  atomic_fetch_add(&loaded_gen, 1);
  for (size_t i = 0; i < 2; i++) {
    tokenizer_free(loaded[i]);
    loaded[i] = NULL;
  }
}

int tokenizer_setup(const char *dir)
{
  tokenizer_teardown();
  int n = 0;
  char err[2][512] = {"", ""}, names[64] = "";
  for (size_t i = 0; i < 2; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.json", dir, encodings[i]);
    loaded[i] = tokenizer_load(path, encodings[i], err[i], sizeof err[i]);
    if (loaded[i]) {
      n++;
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? "," : "", encodings[i]);
    }
  }
  if (n == 2)
    log_msg(LOG_INFO, "tokens without upstream usage are counted by BPE", "encodings=%s dir=\"%s\"", names, dir);
  else if (n == 1)
    log_msg(LOG_WARN, "tokens without upstream usage: one encoding is missing, its models are counted as characters/4",
            "encodings=%s error=\"%s\"", names, err[loaded[0] ? 1 : 0]);
  else
    log_msg(LOG_WARN, "tokens without upstream usage are counted as characters/4: no tokenizer data",
            "dir=\"%s\" error=\"%s\"", dir, err[0]);
  atomic_fetch_add(&loaded_gen, 1);
  return n;
}

/* The thread's last model and its tokenizer: a worker asks for one model over and over (the
 * prefix table's walk was ~400 instructions a request); remembered only for a name that fits. */
static _Thread_local struct {
  unsigned gen;
  char model[128];
  const struct tokenizer *t;
} last_lookup;

const struct tokenizer *tokenizer_for_model(const char *model)
{
  unsigned gen = atomic_load_explicit(&loaded_gen, memory_order_acquire);
  if (model && last_lookup.gen == gen && strcmp(last_lookup.model, model) == 0)
    return last_lookup.t;
  const char *enc = tokenizer_encoding_for_model(model);
  const struct tokenizer *t = NULL;
  for (size_t i = 0; enc && i < 2; i++)
    if (strcmp(enc, encodings[i]) == 0)
      t = loaded[i];
  size_t n = model ? strnlen(model, sizeof last_lookup.model) : sizeof last_lookup.model;
  if (n < sizeof last_lookup.model) {
    memcpy(last_lookup.model, model, n + 1);
    last_lookup.t = t;
    last_lookup.gen = gen;
  }
  return t;
}

/* ---- a running count ---- */

#define TAIL_SCAN 4096      /* the tail is scanned when it reaches this many bytes */

void tok_count_init(struct tok_count *c, const char *model)
{
  c->t = tokenizer_for_model(model);
  buf_init(&c->tail, TOKENIZER_MAX_PIECE + TAIL_SCAN + (1 << 20));
  c->tokens = 0;
  c->bytes = 0;
  c->scan_at = TAIL_SCAN;
}

void tok_count_add(struct tok_count *c, const char *text, size_t len)
{
  c->bytes += len;
  if (!c->t || !len)
    return;
  while (len) {
    /* room for this read in the tail: what does not fit is taken in slices */
    size_t room = c->tail.cap - c->tail.len, n = len < room ? len : room;
    buf_append(&c->tail, text, n);
    text += n;
    len -= n;
    /* a long last piece is scanned again only every TAIL_SCAN bytes: linear, not quadratic */
    if (c->tail.len < c->scan_at && !len)
      return;
    size_t rest;
    c->tokens += count_text(c->t, c->tail.data, c->tail.len, true, &rest);
    if (c->tail.len - rest > TOKENIZER_MAX_PIECE) {
      /* one endless piece: its first slice is final */
      c->tokens += bpe_any(c->t, (const unsigned char *)c->tail.data + rest, TOKENIZER_MAX_PIECE);
      rest += TOKENIZER_MAX_PIECE;
    }
    buf_consume(&c->tail, rest);
    c->scan_at = c->tail.len + TAIL_SCAN;
  }
}

int64_t tok_count_total(const struct tok_count *c)
{
  if (!c->t)
    return (int64_t)((c->bytes + 3) / 4);
  return c->tokens + (c->tail.len ? tokenizer_count(c->t, c->tail.data, c->tail.len) : 0);
}

const char *tok_count_source(const struct tok_count *c)
{
  return c->t ? c->t->name : "chars/4";
}

void tok_count_free(struct tok_count *c)
{
  buf_free(&c->tail);
}
