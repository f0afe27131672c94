/*
 * jsonarena: cJSON trees for one stream event without a malloc and a free per node. A stream
 * parses every upstream event (its usage, text and errors are read from the JSON); a chunk of a
 * chat stream is ~25 cJSON allocations, and their malloc, free and cJSON_Delete's walk were a third
 * of relayd's work per relayed event. Here a tree is built in a per-thread bump arena and dropped
 * whole.
 *
 * jsonarena_init installs cJSON hooks (cJSON_InitHooks) for the whole process, once, before any
 * thread starts: outside jsonarena_parse they call malloc and free as before (free checks first
 * whether the pointer is in this thread's arena, where freeing is a no-op).
 * Callers: main.c (jsonarena_init), format.c (an event relayed unchanged: parsed, read, dropped),
 * respond.c (a whole non-streaming answer, read for its usage and text), reqpool.c (a request's
 * parsed body in a chunk of its worker's slab: jsonarena_region, jsonarena_chunk_*).
 * Never: hands out a tree that outlives the next jsonarena_parse of its thread, or one that is
 * changed (items added or detached) -- such trees are parsed with cJSON_Parse. Without
 * jsonarena_init (unit tests, fuzz targets) it is cJSON_ParseWithLength and cJSON_Delete.
 */
#ifndef RELAY_JSONARENA_H
#define RELAY_JSONARENA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Installs the hooks; call once in main before threads start. */
void jsonarena_init(void);
/* cJSON_ParseWithLength into this thread's arena (the heap when the arena is in use or full).
 * The tree is read only; it ends with jsonarena_drop, before the thread's next jsonarena_parse. */
cJSON *jsonarena_parse(const char *s, size_t len);
/* Ends a tree of jsonarena_parse (NULL is fine). */
void jsonarena_drop(cJSON *root);

/* Chunks (a request's body lives across loop turns, so not in the thread's arena: reqpool.c parses
 * it into a chunk of its worker's slab). jsonarena_region registers [base, base + len) for the
 * process's life: cJSON's free skips pointers there (false: no room for another region).
 * Between jsonarena_chunk_begin and jsonarena_chunk_end (around one parse only, as jsonarena_parse)
 * this thread's cJSON allocations come from chunk (cap bytes, inside a region), then the heap;
 * jsonarena_chunk_end returns how many bytes the chunk gave (0: whatever was parsed is on the heap).
 * Whoever owns the chunk frees the tree with cJSON_Delete (heap parts freed, chunk parts skipped)
 * before reusing the chunk. */
bool jsonarena_region(const void *base, size_t len);
void jsonarena_chunk_begin(char *chunk, size_t cap);
size_t jsonarena_chunk_end(void);

#endif
