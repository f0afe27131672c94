/* Unit tests of relayd/jsonarena.c: a tree parsed in the thread's arena reads as cJSON's own; an
 * event larger than the arena spills to the heap and is still freed whole (ASan/LeakSanitizer see
 * every byte); a second tree while one is alive, a tree made by cJSON outside, a failed parse and
 * cJSON's printing all keep working with the hooks installed; a worker thread's arena is freed
 * when the thread ends. */
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
