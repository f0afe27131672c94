/* jsonarena: see jsonarena.h. */
#include "jsonarena.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* A chat chunk's tree takes about 1.5 KB; an event that needs more goes on to the heap */
#define ARENA_CAP (32 * 1024)
#define ALIGN 16

#ifdef __SANITIZE_ADDRESS__
/* under AddressSanitizer the arena keeps what malloc gave: every node readable alone, a poisoned
 * gap after it, the whole arena poisoned once its tree is dropped (use after drop is caught) */
#include <sanitizer/asan_interface.h>
#define GAP 16
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define GAP 0
#endif

struct arena {
  char *base;            /* ARENA_CAP bytes, owned by the thread: freed at its exit (arena_exit) */
  size_t used;
  bool on;               /* inside jsonarena_parse: cJSON's allocations come from here */
  bool busy;             /* a tree of this arena is alive (until jsonarena_drop) */
  bool spilled;          /* some of that tree is on the heap: cJSON_Delete frees those parts */
};

static _Thread_local struct arena A;
static bool installed;
static pthread_key_t exit_key;

/* chunk regions (reqpool.c's slabs, one a worker): registered once, never removed */
#define REGIONS 64
static struct {
  uintptr_t lo, len;
} regions[REGIONS];
static atomic_size_t nregions;
static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER;
/* the chunk being parsed into on this thread (jsonarena_chunk_begin .. _end) */
static _Thread_local struct {
  char *base;
  size_t cap, used;
} C;

static bool in_arena(const void *p)
{
  return A.base && (const char *)p >= A.base && (const char *)p < A.base + ARENA_CAP;
}

static bool in_region(const void *p)
{
  size_t n = atomic_load_explicit(&nregions, memory_order_acquire);
  for (size_t i = 0; i < n; i++)
    if ((uintptr_t)p - regions[i].lo < regions[i].len)
      return true;
  return false;
}

static void *arena_malloc(size_t n)
{
  if (A.on) {
    size_t need = ((n + ALIGN - 1) & ~(size_t)(ALIGN - 1)) + GAP;
    if (need >= n && ARENA_CAP - A.used >= need) {
      void *p = A.base + A.used;
      A.used += need;
      ASAN_UNPOISON_MEMORY_REGION(p, n);
      return p;
    }
    A.spilled = true;
  } else if (C.base) {
    size_t need = ((n + ALIGN - 1) & ~(size_t)(ALIGN - 1)) + GAP;
    if (need >= n && C.cap - C.used >= need) {
      void *p = C.base + C.used;
      C.used += need;
      ASAN_UNPOISON_MEMORY_REGION(p, n);
      return p;
    }
  }
  return malloc(n);
}

static void arena_free(void *p)
{
  if (!in_arena(p) && !in_region(p))
    free(p);     /* arena and chunk memory is dropped whole with its tree */
}

static void arena_exit(void *base)
{
  ASAN_UNPOISON_MEMORY_REGION(base, ARENA_CAP);
  free(base);
}

/* The arena is empty again (its tree dropped, or a parse failed). */
static void arena_reset(void)
{
  A.used = 0;
  A.spilled = false;
  ASAN_POISON_MEMORY_REGION(A.base, ARENA_CAP);
}

void jsonarena_init(void)
{
  if (installed)
    return;
  if (pthread_key_create(&exit_key, arena_exit) != 0)
    return;                 /* without the hooks every parse is cJSON's own */
  cJSON_Hooks h = {.malloc_fn = arena_malloc, .free_fn = arena_free};
  cJSON_InitHooks(&h);
  installed = true;
}

cJSON *jsonarena_parse(const char *s, size_t len)
{
  if (!installed || A.busy)
    return cJSON_ParseWithLength(s, len);
  if (!A.base) {
    A.base = malloc(ARENA_CAP);      /* owned by this thread: arena_exit frees it */
    if (!A.base || pthread_setspecific(exit_key, A.base) != 0) {
      free(A.base);
      A.base = NULL;
      return cJSON_ParseWithLength(s, len);
    }
    arena_reset();
  }
  A.on = true;
  cJSON *root = cJSON_ParseWithLength(s, len);
  A.on = false;
  /* the root is the parse's first allocation, made in the empty arena */
  A.busy = root && in_arena(root);
  if (!A.busy)
    arena_reset();   /* a failed parse freed its nodes (arena ones: nothing to do) */
  return root;
}

void jsonarena_drop(cJSON *root)
{
  if (!root)
    return;
  if (!installed || !in_arena(root)) {
    cJSON_Delete(root);
    return;
  }
  if (A.spilled)
    cJSON_Delete(root);     /* frees the heap parts; arena parts are skipped by arena_free */
  arena_reset();
  A.busy = false;
}

bool jsonarena_region(const void *base, size_t len)
{
  if (!installed)
    return false;           /* cJSON's own free would be handed chunk pointers */
  pthread_mutex_lock(&region_lock);
  size_t n = atomic_load_explicit(&nregions, memory_order_relaxed);
  bool ok = n < REGIONS;
  if (ok) {
    regions[n].lo = (uintptr_t)base;
    regions[n].len = len;
    atomic_store_explicit(&nregions, n + 1, memory_order_release);
  }
  pthread_mutex_unlock(&region_lock);
  return ok;
}

void jsonarena_chunk_begin(char *chunk, size_t cap)
{
  C.base = chunk;
  C.cap = cap;
  C.used = 0;
}

size_t jsonarena_chunk_end(void)
{
  size_t used = C.used;
  C.base = NULL;
  C.cap = C.used = 0;
  return used;
}
