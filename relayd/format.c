/* format: see format.h. The one event path of a stream, and what the formats share. */
#include "format.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "jsonarena.h"
#include "openai.h"
#include "sse.h"

cJSON *format_parse_object(const char *body, size_t len, char *err, size_t errlen)
{
  cJSON *root = cJSON_ParseWithLength(body ? body : "", len);
  if (cJSON_IsObject(root))
    return root;
  cJSON_Delete(root);
  adapt_set_err(err, errlen, "The request body must be a JSON object.");
  return NULL;
}

void format_read_answer(const cJSON *root, const char *usage_key, void (*read)(const cJSON *, struct usage *),
                        const char *text_key, struct format_facts *f)
{
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, usage_key);
  if (cJSON_IsObject(u))
    read(u, &f->usage);
  f->usage_found = cJSON_IsObject(u);
  f->usage_final = true;
  f->text_chars = 0;
  if (f->text_if_no_usage && f->usage_found && !f->usage.bad)
    return;
  format_count_text(f, cJSON_GetObjectItemCaseSensitive(root, text_key));
}

static void count_text(const char *s, size_t n, void *ctx)
{
  struct format_facts *f = ctx;
  f->text_chars += n;
  if (f->tokens)
    tok_count_add(f->tokens, s, n);   /* no tokenizer for the model: characters/4 */
}

/* one walk of the tree for both counts (adapt_text_chars and adapt_text_each walked it twice) */
void format_count_text(struct format_facts *f, const cJSON *node)
{
  adapt_text_each(node, count_text, f);
}

void format_append_owned(struct buf *b, char *s)
{
  if (s)
    buf_append_str(b, s);
  free(s);
}

bool format_scan_chunk(const cJSON *j, struct format_facts *f, bool read_usage)
{
  /* choices, usage and error in one walk of the members, the first of each name as
   * cJSON_GetObjectItemCaseSensitive finds it (three walks before: ~800 Ir an event) */
  const cJSON *choices = NULL, *uo = NULL, *eo = NULL;
  for (const cJSON *c = j ? j->child : NULL; c && c->string; c = c->next) {
    const char *k = c->string;
    if (k[0] == 'c') {
      if (!choices && strcmp(k, "choices") == 0)
        choices = c;
    } else if (k[0] == 'u') {
      if (!uo && strcmp(k, "usage") == 0)
        uo = c;
    } else if (k[0] == 'e' && !eo && strcmp(k, "error") == 0) {
      eo = c;
    }
  }
  bool has_usage = cJSON_IsObject(uo);
  if (has_usage && read_usage) {
    struct usage u;
    oai_parse_usage(uo, &u);
    f->usage = u;
    f->usage_found = true;
    f->usage_final = true;       /* OpenAI sends it once, in the last chunk */
  }
  format_count_text(f, choices);
  f->failed |= cJSON_IsObject(eo);
  /* the chunk relay asks for on the client's behalf: usage and no choices */
  return has_usage && (!choices || (cJSON_IsArray(choices) && cJSON_GetArraySize(choices) == 0));
}

/* ---------------------------------------------------------------- the event path */

void format_stream_free(struct format_stream *s)
{
  if (s->out_used && s->out && s->client->ops->out_free)
    s->client->ops->out_free(s->out);
  s->out_used = false;
  free(s->out);
  s->out = NULL;
  buf_free(&s->converted);
  buf_free(&s->framed);
  if (s->rd_on)
    sse_reader_free(&s->rd);
  s->rd_on = false;
}

static void on_sse(const struct sse_event *e, void *ctx)
{
  struct format_stream *s = ctx;
  s->ev_has = true;
  s->ev_data = e->data;
  s->ev_dlen = e->data_len;
  s->ev_type[0] = '\0';
  if (e->type_len < sizeof s->ev_type && !(e->type_len == 7 && memcmp(e->type, "message", 7) == 0)) {
    memcpy(s->ev_type, e->type, e->type_len);
    s->ev_type[e->type_len] = '\0';
  }
}

int format_stream_block(struct format_stream *s, const char *ev, size_t evlen, const char **data, size_t *dlen)
{
  if (!s->rd_on) {
    sse_reader_init(&s->rd, FORMAT_EVENT_MAX);
    s->rd_on = true;
  }
  s->ev_has = false;
  s->ev_type[0] = '\0';
  sse_reader_block(&s->rd, ev, evlen, on_sse, s);   /* the last event the block dispatched */
  if (!s->ev_has)
    return -1;
  *data = s->ev_data;
  *dlen = s->ev_dlen;
  return 0;
}

bool format_native(const struct format *client, const struct format *upstream)
{
  return client == upstream || (upstream && upstream->native_for == client) ||
         (client && upstream && client->dialect && strcmp(client->name, upstream->name) == 0);
}

int format_stream_bytes(struct format_stream *s, const char *p, size_t n, struct buf *sse, const char **why)
{
  if (!s->upstream || !s->upstream->ops->unframe) {
    if (buf_append(sse, p, n) == 0)
      return 0;
    *why = "it sent a stream event larger than 4 MiB";
    return -1;
  }
  if (buf_append(&s->framed, p, n) < 0) {
    *why = "it sent a stream frame larger than 4 MiB";
    return -1;
  }
  return s->upstream->ops->unframe(&s->framed, sse, why);
}

/* The upstream converter's state (in) is left as it is: in_init clears it, nothing reads it before,
 * and a request that does not convert (the same format at both ends) never writes it. The client
 * converter's state is allocated (out, owned, freed by format_stream_free), so the pointer is
 * cleared with the rest: a stale one would be freed twice. */
void format_stream_clear(struct format_stream *s)
{
  size_t a = offsetof(struct format_stream, in);
  size_t b = a + sizeof s->in;
  memset(s, 0, a);
  memset((char *)s + b, 0, sizeof *s - b);
}

void format_stream_init(struct format_stream *s, const struct format *client, const struct format *upstream,
                        const char *model, int64_t prompt_estimate, bool client_wants_usage, int64_t created)
{
  format_stream_free(s);
  format_stream_clear(s);
  s->client = client;
  s->upstream = upstream;
  s->native = format_native(client, upstream);
  s->client_wants_usage = client_wants_usage;
  buf_init(&s->converted, FORMAT_EVENT_MAX);
  buf_init(&s->framed, FORMAT_EVENT_MAX);
  if (s->native)
    return;
  if (upstream->ops->in_init)
    upstream->ops->in_init(&s->in, model, created);
  else
    memset(&s->in, 0, sizeof s->in);
  if (client->ops->out_init) {
    s->out = calloc(1, sizeof *s->out);   /* owned: format_stream_free */
    if (!s->out)
      return;                             /* out_feed / out_finish below then fail the stream */
    client->ops->out_init(s->out, model, prompt_estimate);
    s->out_used = true;
  }
}

static int relay_bytes(struct buf *out, const char *ev, size_t evlen, char *err, size_t errlen)
{
  if (buf_append(out, ev, evlen) == 0)
    return 0;
  adapt_set_err(err, errlen, "the client buffer is full");
  return FORMAT_FULL;
}

/* One OpenAI event (the upstream's own when own, else made from the upstream's by its converter):
 * read once (its text, an error; its usage and [DONE] when own), then to the client as it is or
 * converted to the client's format. */
static int common_event(struct format_stream *s, const char *ev, size_t evlen, bool own, struct buf *out,
                        char *err, size_t errlen)
{
  const char *data;
  size_t dlen;
  /* the upstream's own block as the standard reads it; relay's own chunks have one data line */
  bool has = (own ? format_stream_block(s, ev, evlen, &data, &dlen) : sse_event_data(ev, evlen, &data, &dlen)) == 0;
  bool done = false;
  cJSON *j = NULL;
  const struct format_ops *cl = s->client->ops;
  bool relayed = !cl->out_feed;
  if (has) {
    if (dlen >= 6 && memcmp(data, "[DONE]", 6) == 0) {
      done = s->done = true;
      if (own)
        s->f.ended = true;
    } else {
      /* every event is parsed, once: usage, text and errors are read from the JSON, never by bytes;
       * a tree only read (the event goes on as it came) is built in the thread's arena */
      j = relayed ? jsonarena_parse(data, dlen) : cJSON_ParseWithLength(data, dlen);
      if (format_scan_chunk(j, &s->f, own) && !s->client_wants_usage) {
        jsonarena_drop(j);
        return 0;           /* the usage-only chunk relay asked for, for billing's sake */
      }
    }
  }
  int rc = 0;
  if (!cl->out_feed) {
    rc = relay_bytes(out, ev, evlen, err, errlen);
  } else if (!has) {
    /* comments and keep-alives: the client's format has its own */
  } else if (!done && !cJSON_IsObject(j)) {
    adapt_set_err(err, errlen, "an upstream stream chunk is not a JSON object");
    rc = FORMAT_BAD;
  } else if (!s->out) {
    adapt_set_err(err, errlen, "out of memory for the stream's conversion");
    rc = FORMAT_BAD;
  } else if (cl->out_feed(s->out, done ? NULL : j, out, err, errlen) < 0) {
    rc = FORMAT_BAD;
  }
  jsonarena_drop(j);      /* cJSON_Delete for a tree not from the arena */
  return rc;
}

/* The OpenAI events the upstream's converter wrote into s->converted, one by one. */
static int relay_converted(struct format_stream *s, struct buf *out, char *err, size_t errlen)
{
  size_t off = 0, l;
  int rc = 0;
  if (!s->converted.len)
    return 0;              /* nothing written (and maybe nothing allocated: data is NULL) */
  while ((l = sse_event_len(s->converted.data + off, s->converted.len - off)) > 0) {
    int r = common_event(s, s->converted.data + off, l, false, out, err, errlen);
    rc = rc ? rc : r;
    off += l;
  }
  return rc;
}

int format_stream_event(struct format_stream *s, const char *ev, size_t evlen, struct buf *out, char *err,
                        size_t errlen)
{
  const struct format_ops *up = s->upstream->ops;
  if (!up->in_feed)                           /* OpenAI chunks: read as they are */
    return common_event(s, ev, evlen, true, out, err, errlen);
  const char *data;
  size_t dlen;
  bool has = format_stream_block(s, ev, evlen, &data, &dlen) == 0;
  if (s->native) {
    /* relayed as it came; the usage, text and end in it are read from the parsed event */
    if (has) {
      cJSON *j = jsonarena_parse(data, dlen);    /* read only */
      up->scan_event(j, &s->f);
      jsonarena_drop(j);
    }
    return relay_bytes(out, ev, evlen, err, errlen);
  }
  if (!has)
    return 0;                                 /* comments and keep-alives */
  buf_reset(&s->converted);
  if (up->in_feed(&s->in, s->ev_type[0] ? s->ev_type : NULL, data, dlen, &s->converted, err, errlen) < 0)
    return FORMAT_BAD;
  up->in_facts(&s->in, &s->f);
  return relay_converted(s, out, err, errlen);
}

const char *format_stream_end(struct format_stream *s, bool ok, struct buf *out)
{
  const struct format_ops *up = s->upstream->ops, *cl = s->client->ops;
  if (s->native && up->in_feed)               /* its own closing event, or an error event, ends it */
    return ok && (s->f.ended || s->f.failed) ? NULL : s->upstream->unended;
  if (!s->native && up->in_finish && ok && !s->done) {
    /* a format without [DONE]: the end of its body closes the converted stream */
    char err[128];
    buf_reset(&s->converted);
    if (up->in_finish(&s->in, &s->converted) == 0)
      relay_converted(s, out, err, sizeof err);
    up->in_facts(&s->in, &s->f);
  }
  if (cl->out_finish && (!ok || !s->done))
    /* out_finish closes a stream that got its finish_reason; anything else gets an error event */
    return ok && s->out && cl->out_finish(s->out, out) == 0 ? NULL : "no final event.";
  if ((!ok || !s->done) && !s->f.failed)
    return s->client->unended;          /* the common form's: no [DONE] */
  return NULL;
}

bool format_stream_complete(const struct format_stream *s)
{
  if (s->native && s->upstream->ops->in_feed)
    return s->f.ended && !s->f.failed;
  return s->done;
}
