/*
 * keys: API key generation, hashing and display hints.
 *
 * relay never stores a client key: tokens.key_hash holds the hex SHA-256 of the key body (the key
 * without its "sk-" prefix), and tokens.key_hint a short form for display ("sk-abcd...wxyz").
 * Callers: gwctl (create, rotate), relayd auth (hash of the presented key).
 * Never: logs or prints a key other than the one it just created.
 */
#ifndef RELAY_KEYS_H
#define RELAY_KEYS_H

#include <stddef.h>

#define KEY_BODY_LEN 48          /* random part of a generated key: [0-9A-Za-z] */
#define KEY_MAX_LEN 128          /* longest key body accepted from a key file or a client */
#define KEY_HASH_HEX_LEN 64
#define KEY_HINT_MAX 16

/* Writes "sk-" + 48 random alphanumerics + NUL into out (size >= 52). Returns 0, -1 if no entropy. */
int key_generate(char *out, size_t outlen);

/* Hex SHA-256 of the len bytes at body into hex (size >= 65). */
void key_hash(const char *body, size_t len, char hex[KEY_HASH_HEX_LEN + 1]);

/* The key body: key without a leading "sk-". */
const char *key_body(const char *key);

/* Checks a key given by an administrator: "sk-" optional, then 8..KEY_MAX_LEN characters of
 * [0-9A-Za-z_]. Returns 0 when valid, else -1 with a reason in err. */
int key_validate(const char *key, char *err, size_t errlen);

/* "sk-" + first 4 + "..." + last 4 of the body. */
void key_hint(const char *key, char hint[KEY_HINT_MAX]);

#endif
