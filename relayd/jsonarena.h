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
 * respond.c (a whole non-streaming answer, read for its usage and text).
 * Never: hands out a tree that outlives the next jsonarena_parse of its thread, or one that is
 * changed (items added or detached) -- such trees are parsed with cJSON_Parse. Without
 * jsonarena_init (unit tests, fuzz targets) it is cJSON_ParseWithLength and cJSON_Delete.
 */
#ifndef RELAY_JSONARENA_H
#define RELAY_JSONARENA_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Installs the hooks; call once in main before threads start. */
void jsonarena_init(void);
/* cJSON_ParseWithLength into this thread's arena (the heap when the arena is in use or full).
 * The tree is read only; it ends with jsonarena_drop, before the thread's next jsonarena_parse. */
cJSON *jsonarena_parse(const char *s, size_t len);
/* Ends a tree of jsonarena_parse (NULL is fine). */
void jsonarena_drop(cJSON *root);

#endif
