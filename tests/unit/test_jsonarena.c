/* Unit tests of relayd/jsonarena.c: a tree parsed in the thread's arena reads as cJSON's own; an
 * event larger than the arena spills to the heap and is still freed whole (ASan/LeakSanitizer see
 * every byte); a second tree while one is alive, a tree made by cJSON outside, a failed parse and
 * cJSON's printing all keep working with the hooks installed; a worker thread's arena is freed
 * when the thread ends. Chunks (a request's body, reqpool.c): a tree parsed into a registered chunk
 * reads as parsed, keeps working when changed (its new nodes are heap ones), and cJSON_Delete frees
 * its heap parts and skips its chunk parts (ASan would report a free of a chunk pointer, LeakSanitizer
 * a heap part left); a tree past the chunk spills to the heap. */
#include <sys/mman.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../relayd/jsonarena.h"
#include "tap.h"

static const char CHUNK[] = "{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello \"}}],\"usage\":null}";

static void check_chunk(const cJSON *j, const char *what)
{
  const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
  const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(c, "delta"), "content"));
  CHECK(s && strcmp(s, "hello ") == 0 && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "usage")),
        "%s: the tree reads as parsed", what);
}

static void *worker(void *arg)
{
  (void)arg;
  for (int i = 0; i < 100; i++) {
    cJSON *j = jsonarena_parse(CHUNK, sizeof CHUNK - 1);
    if (!j)
      return (void *)1;
    jsonarena_drop(j);
  }
  return NULL;
}

int main(void)
{
  /* before the hooks: cJSON's own parse and delete */
  cJSON *j = jsonarena_parse(CHUNK, sizeof CHUNK - 1);
  check_chunk(j, "without jsonarena_init");
  jsonarena_drop(j);

  jsonarena_init();
  jsonarena_init();     /* once only */
  j = jsonarena_parse(CHUNK, sizeof CHUNK - 1);
  check_chunk(j, "in the arena");
  /* a second tree while the first is alive comes from the heap and both stay intact */
  cJSON *k = jsonarena_parse(CHUNK, sizeof CHUNK - 1);
  check_chunk(k, "a second tree while the first is alive");
  check_chunk(j, "the first tree after the second was parsed");
  jsonarena_drop(k);
  jsonarena_drop(j);
  j = jsonarena_parse(CHUNK, sizeof CHUNK - 1);
  check_chunk(j, "the arena used again");
  jsonarena_drop(j);

  /* larger than the arena (32 KiB): the rest on the heap, all freed by jsonarena_drop */
  size_t n = 4000, cap = 16 + n * 24;
  char *big = malloc(cap);
  size_t len = (size_t)snprintf(big, cap, "[");
  for (size_t i = 0; i < n; i++)
    len += (size_t)snprintf(big + len, cap - len, "%s{\"k\":\"v%zu\"}", i ? "," : "", i);
  len += (size_t)snprintf(big + len, cap - len, "]");
  j = jsonarena_parse(big, len);
  CHECK(cJSON_GetArraySize(j) == (int)n, "an event past the arena is whole: %d items", cJSON_GetArraySize(j));
  const char *last = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, (int)n - 1), "k"));
  CHECK(last && strcmp(last, "v3999") == 0, "its last item reads");
  jsonarena_drop(j);
  free(big);

  /* a failed parse leaves the arena usable */
  CHECK(jsonarena_parse("{\"a\":[1,2,", 10) == NULL, "a cut event does not parse");
  j = jsonarena_parse(CHUNK, sizeof CHUNK - 1);
  check_chunk(j, "after a failed parse");
  jsonarena_drop(j);

  /* cJSON outside the arena with the hooks installed: build, print, delete */
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", "gpt-4o-mini");
  char *p = cJSON_PrintUnformatted(o);
  CHECK(p && strcmp(p, "{\"model\":\"gpt-4o-mini\"}") == 0, "cJSON's own trees and printing: %s", p ? p : "");
  cJSON_free(p);
  cJSON_Delete(o);
  jsonarena_drop(NULL);

  /* chunks in a registered region (reqpool.c's slab) */
  size_t slab_len = 4 * 4096;
  char *slab = mmap(NULL, slab_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(slab != MAP_FAILED && jsonarena_region(slab, slab_len), "a region is registered");
  static const char REQ[] = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  jsonarena_chunk_begin(slab, 4096);
  cJSON *rq = cJSON_ParseWithLength(REQ, sizeof REQ - 1);
  size_t used = jsonarena_chunk_end();
  CHECK(rq && (char *)rq >= slab && (char *)rq < slab + 4096 && used > 0 && used <= 4096,
        "a request parsed in its chunk: %zu bytes of it", used);
  /* changed as oai_upstream_body changes it: the old model node (chunk) dropped, a heap one in */
  cJSON_ReplaceItemInObjectCaseSensitive(rq, "model", cJSON_CreateString("gpt-4o"));
  cJSON_AddTrueToObject(cJSON_AddObjectToObject(rq, "stream_options"), "include_usage");
  char *txt = cJSON_PrintUnformatted(rq);
  CHECK(txt && strcmp(txt, "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                           "\"stream_options\":{\"include_usage\":true}}") == 0,
        "the chunk's tree changed and printed: %s", txt ? txt : "");
  cJSON_free(txt);
  cJSON_Delete(rq);      /* heap nodes freed, chunk nodes skipped */
  /* outside a chunk window cJSON is back on the heap */
  o = cJSON_Parse(REQ);
  CHECK(o && !((char *)o >= slab && (char *)o < slab + slab_len), "after jsonarena_chunk_end: the heap");
  cJSON_Delete(o);
  /* a body larger than its chunk: the rest on the heap, freed by cJSON_Delete */
  size_t bn = 300, bcap = 16 + bn * 24;
  char *body = malloc(bcap);
  size_t blen = (size_t)snprintf(body, bcap, "[");
  for (size_t i = 0; i < bn; i++)
    blen += (size_t)snprintf(body + blen, bcap - blen, "%s{\"k\":\"v%zu\"}", i ? "," : "", i);
  blen += (size_t)snprintf(body + blen, bcap - blen, "]");
  jsonarena_chunk_begin(slab + 4096, 4096);
  rq = cJSON_ParseWithLength(body, blen);
  used = jsonarena_chunk_end();
  CHECK(cJSON_GetArraySize(rq) == (int)bn && used <= 4096 &&
            !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rq, (int)bn - 1), "k")),
                    "v299"),
        "a tree past its chunk is whole (%zu bytes in the chunk)", used);
  cJSON_Delete(rq);
  free(body);
  /* a failed parse in a chunk frees nothing it must not */
  jsonarena_chunk_begin(slab + 8192, 4096);
  CHECK(cJSON_ParseWithLength("{\"a\":[1,2,", 10) == NULL, "a cut body does not parse in a chunk");
  jsonarena_chunk_end();
  /* never unmapped: a registered region stays registered (as in relayd) */

  /* each thread has its own arena, freed when it ends (LeakSanitizer would report it) */
  pthread_t t[2];
  void *rv[2] = {0};
  for (int i = 0; i < 2; i++)
    pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], &rv[i]);
  CHECK(rv[0] == NULL && rv[1] == NULL, "two threads parse in their own arenas");
  return tap_done();
}
