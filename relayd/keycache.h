/*
 * keycache: each worker thread's small table from a presented API key body to the token it named
 * in one snapshot, so that a key seen again on the same snapshot skips the SHA-256 and the token
 * map's lookup (auth.c).
 *
 * What it holds: up to KEYCACHE_SLOTS entries a thread, in a table the thread allocates with its
 * first entry and frees (wiped) when it ends (direct-mapped: slot = a 64-bit hash of the body with
 * the table's own random seed), each the key body in full (the plaintext key: it is compared in
 * full, in constant time, never by its hash alone), the snapshot version it was found in and the
 * token pointer of that snapshot. A key is only entered after the snapshot's map knew its SHA-256 (unknown keys are
 * never cached), and an entry answers only for the same snapshot version (versions are unique and
 * grow, snapshot.h): any reload -- a token disabled, deleted, rotated or given a new expiry --
 * makes every entry of the older version miss, and the first lookup on a new version wipes the
 * whole table (explicit_bzero), so a key body lives in a worker's table no longer than the
 * snapshot it was checked against, or until a colliding key replaces it (wiped too). The checks
 * that depend on the moment (status, expiry, balances, the address, the user) stay auth.c's, made
 * on every request.
 * Callers: auth.c (worker threads). Never: logs or copies a key out, holds a token of another
 * snapshot version, or shares its table between threads.
 */
#ifndef RELAY_KEYCACHE_H
#define RELAY_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

#define KEYCACHE_SLOTS 128

/* The value entered for this body in this snapshot version, or NULL. */
const void *keycache_get(uint64_t version, const char *body, size_t len);
/* Enters body (len <= KEY_MAX_LEN, else nothing) -> value for version, replacing the slot's entry. */
void keycache_put(uint64_t version, const char *body, size_t len, const void *value);
/* The slot a body maps to in this thread's table (for tests of colliding keys). */
size_t keycache_slot(const char *body, size_t len);
/* Wipes this thread's entries. */
void keycache_clear(void);

#endif
