/*
 * util: small building blocks shared by every program: a growable byte buffer with a hard bound,
 * a string arena, a string-keyed hash map, clocks, and list parsing.
 * Callers: everything. Never: allocates without a bound on network input (buf has a cap).
 */
#ifndef RELAY_UTIL_H
#define RELAY_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A byte buffer. data is always NUL-terminated after len bytes (so text can be read as a string).
 * cap bounds growth: an append past cap fails and changes nothing. Owned by whoever holds it;
 * freed by buf_free(). */
struct buf {
  char *data;
  size_t len;
  size_t alloc;
  size_t cap;
};

void buf_init(struct buf *b, size_t cap);
/* A buffer over the caller's n bytes (n >= 1): holds at most n - 1 bytes and a NUL, never grows,
 * never frees (do not call buf_free or buf_steal on it). For hot paths that must not allocate. */
void buf_init_fixed(struct buf *b, char *mem, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);   /* 0, or -1 when cap or memory fail */
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_append_str(struct buf *b, const char *s);
void buf_consume(struct buf *b, size_t n);                /* drops n bytes from the front */
void buf_reset(struct buf *b);                            /* len = 0, keeps memory */
void buf_free(struct buf *b);
/* Gives the memory to the caller (who frees it with free()); b becomes empty. */
char *buf_steal(struct buf *b, size_t *len);

/* Appends s as a JSON string literal (with quotes, escaped). */
int buf_append_json_str(struct buf *b, const char *s);

/* An arena of strings and small objects freed all at once. */
struct arena {
  struct arena_block *head;
};
void *arena_alloc(struct arena *a, size_t n);             /* zeroed; aborts on out of memory */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_free(struct arena *a);

/* Open-addressing hash map from string keys to pointers. Keys are not copied: they must outlive
 * the map (snapshot strings live in the snapshot's arena). */
struct strmap {
  struct strmap_slot *slots;
  size_t nslots;
  size_t count;
};
void strmap_init(struct strmap *m, size_t expected);
void strmap_put(struct strmap *m, const char *key, void *val);   /* replaces an existing key */
void *strmap_get(const struct strmap *m, const char *key);
void *strmap_getn(const struct strmap *m, const char *key, size_t keylen);
void strmap_free(struct strmap *m);
/* Iteration: i from 0 while i < m->nslots; returns NULL key for empty slots. */
const char *strmap_slot(const struct strmap *m, size_t i, void **val);

/* A process-wide table of live state that outlives snapshots (a channel's health, a pool key's
 * counters, rate buckets): one entry of `size` bytes per string key, created on first use and kept,
 * at the same address, until state_table_free (at exit). Its lock covers only the lookup; the
 * entries' own fields are the caller's business (atomics, their own locks).
 * Declare: static struct state_table t = STATE_TABLE_INIT(struct x, 64); */
struct state_table {
  pthread_mutex_t lock;
  struct strmap map;
  size_t size;        /* bytes of one entry */
  size_t expected;    /* the map's first size */
};
#define STATE_TABLE_INIT(type, n) { PTHREAD_MUTEX_INITIALIZER, { NULL, 0, 0 }, sizeof(type), (n) }
/* The entry of key; a new one is a copy of proto (size bytes), or zeroed when proto is NULL.
 * Aborts when out of memory. */
void *state_table_get(struct state_table *t, const char *key, const void *proto);
/* Frees every entry and key (nothing may use them after). */
void state_table_free(struct state_table *t);

uint64_t hash_bytes(const void *p, size_t n);

/* v in lower-case hex, at least width digits (zero-padded, as printf's "%0*llx"), written at p
 * (room for max(width, 16) bytes; no NUL); returns the number of digits. Request ids (reqpool.c)
 * and a direct stream send's chunk size (stream.c) are written with it, once a request or event. */
size_t put_hex(char *p, unsigned long long v, int width);

uint64_t now_us_mono(void);     /* CLOCK_MONOTONIC */
/* The CLOCK_REALTIME instant us microseconds from now: a pthread_cond_timedwait deadline (the
 * background threads' sleeps: writer, balpoll, monitor, vertex, webhook). */
struct timespec realtime_in_us(uint64_t us);
int64_t now_unix(void);         /* seconds */
int64_t now_unix_ms(void);

/* Splits a comma list into trimmed non-empty items in the arena. Returns the count; *items is an
 * arena array. */
size_t split_list(struct arena *a, const char *s, char ***items);

/* Parses a whole decimal integer; returns 0 or -1 (trailing junk, overflow, empty). */
int parse_int64(const char *s, int64_t *out);

/* Case-insensitive prefix test. */
bool has_prefix_ci(const char *s, const char *prefix);

#endif
