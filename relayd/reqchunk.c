/* reqchunk: see reqchunk.h. */
#include "reqchunk.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "jsonarena.h"
#include "request.h"

#ifdef __SANITIZE_ADDRESS__
/* a free chunk is poisoned: a tree used after request_drop_parsed is reported (jsonarena
 * unpoisons what it hands out) */
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

/* The worker's slab of chunks: mapped (untouched pages cost no memory) and registered with
 * jsonarena so that cJSON's free skips its pointers; never unmapped, as a region stays registered. */
void reqchunk_open(struct relay_local *l)
{
  size_t len = (size_t)REQ_CHUNKS * REQ_CHUNK;
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return;
  if (!jsonarena_region(m, len)) {
    munmap(m, len);          /* no hooks (or no room): request bodies on the heap, as before */
    return;
  }
  ASAN_POISON_MEMORY_REGION(m, len);
  l->slab = m;
  /* the lowest chunk on top: a quiet worker touches the same few pages again and again */
  for (size_t i = 0; i < REQ_CHUNKS; i++)
    l->chunk_free[i] = (uint16_t)(REQ_CHUNKS - 1 - i);
  l->nchunk_free = REQ_CHUNKS;
}

void request_parse_begin(struct request *r)
{
  struct relay_local *l = local(r->w);
  if (r->chunk || !l->slab || !l->nchunk_free)
    return;
  r->chunk = l->slab + (size_t)l->chunk_free[--l->nchunk_free] * REQ_CHUNK;
  jsonarena_chunk_begin(r->chunk, REQ_CHUNK);
}

static void chunk_put(struct request *r)
{
  struct relay_local *l = local(r->w);
  ASAN_POISON_MEMORY_REGION(r->chunk, REQ_CHUNK);
  l->chunk_free[l->nchunk_free++] = (uint16_t)((size_t)(r->chunk - l->slab) / REQ_CHUNK);
  r->chunk = NULL;
}

void request_parse_end(struct request *r)
{
  if (!r->chunk)
    return;
  if (jsonarena_chunk_end() == 0)
    chunk_put(r);            /* nothing in it (no parse, or all on the heap) */
}

void request_drop_parsed(struct request *r)
{
  cJSON_Delete(r->root);     /* heap nodes freed; chunk nodes skipped (the chunk goes back whole) */
  r->root = NULL;
  cJSON_Delete(r->croot);
  r->croot = NULL;
  if (r->chunk)
    chunk_put(r);
}

void request_drop_sent(struct request *r)
{
  if ((!r->up_body && !r->oai_text) || !r->easy || !r->committed)
    return;
  /* curl reads the body from r's memory (CURLOPT_POSTFIELDS: not copied) until it has sent it
   * all: only then, and a committed attempt is never sent again */
  curl_off_t sent = -1, size = -1;
  if (curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &sent) != CURLE_OK ||
      curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_UPLOAD_T, &size) != CURLE_OK || size < 0 || sent < size)
    return;
  free(r->up_body);
  r->up_body = NULL;
  r->up_len = 0;
  free(r->oai_text);
  r->oai_text = NULL;
  r->oai_len = 0;
}
