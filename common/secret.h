/*
 * secret: encryption at rest of upstream channel keys (channels.key) under a master key file, and
 * constant-time comparison of secrets.
 *
 * Master key: a file of exactly 32 random bytes, mode 0600 (or stricter), never group/world
 * accessible: a looser file is refused, not "fixed". Where it is (secret_key_path, the same rule for
 * relayd and gwctl): the configured path (relayd master_key_file), else $RELAY_MASTER_KEY_FILE, else
 * $CREDENTIALS_DIRECTORY/master.key when systemd passed one (LoadCredential=master.key:...), else
 * master.key beside the SQLite database, else (other databases) /etc/relay/master.key.
 * A missing file is created (O_EXCL, 0600, 32 bytes from RAND_bytes) by secret_key_load(create=1);
 * an existing file that is damaged (wrong size, loose mode) is an error and is never replaced, since
 * a new key would orphan every stored value.
 *
 * Stored format of an encrypted value: "enc:v1:KEYID:" + base64(nonce[12] | ciphertext | tag[16]),
 * AES-256-GCM (OpenSSL EVP), random 96-bit nonce per value, the "enc:v1:KEYID:" header as AAD.
 * KEYID is 8 hex digits derived from the key (SHA-256), so a value sealed under another master key
 * is reported as such rather than as "damaged". A stored value without the "enc:" prefix is legacy
 * plaintext (relayd seals those at start, see snapshot_seal_channel_keys).
 *
 * Callers: relayd (main: loads the key; snapshot: opens channel keys), gwctl (channel add/edit seal,
 * show --reveal / test / models open). Never: logs, prints or puts into an error message any key
 * material or plaintext; every plaintext buffer it returns must be freed with secret_free (wiped).
 */
#ifndef RELAY_SECRET_H
#define RELAY_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_KEY_BYTES 32
#define SECRET_KEYID_LEN 8
#define SECRET_PREFIX "enc:"
#define SECRET_V1 "enc:v1:"
#define SECRET_DEFAULT_SYSTEM_PATH "/etc/relay/master.key"

struct secret_key {
  unsigned char bytes[SECRET_KEY_BYTES];
  char id[SECRET_KEYID_LEN + 1];   /* hex, not secret */
  char path[512];                  /* where it was read from */
  bool loaded;
};

/* Resolves the master key file (rule above) into out. configured may be NULL or "". db_url is
 * the database URL (sqlite:PATH). Returns 0, or -1 with err set when the result does not fit. */
int secret_key_path(const char *configured, const char *db_url, char *out, size_t outlen, char *err,
                    size_t errlen);

/* Reads the key file at path into k; when it does not exist and create is true, creates it first
 * (and sets *created when created is not NULL). Returns 0, or -1 with a message in err naming path
 * and the problem (never the key). */
int secret_key_load(struct secret_key *k, const char *path, bool create, bool *created, char *err,
                    size_t errlen);

/* Wipes the key from memory. */
void secret_key_wipe(struct secret_key *k);

/* True when stored is an encrypted value (any version) rather than legacy plaintext. */
bool secret_is_sealed(const char *stored);

/* Encrypts len bytes of plain. Returns a malloc'd NUL-terminated "enc:v1:..." string (not secret;
 * free() it), or NULL with err set. */
char *secret_seal(const struct secret_key *k, const char *plain, size_t len, char *err, size_t errlen);

/* Opens a stored value: an "enc:v1:" value is decrypted with k; a value without "enc:" is legacy
 * plaintext and is copied. Returns a malloc'd NUL-terminated plaintext (free it with secret_free),
 * or NULL with err set ("sealed under master key X, this is Y", "damaged", "unknown version", a
 * plaintext holding a NUL byte). k may be NULL only for legacy plaintext. */
char *secret_open(const struct secret_key *k, const char *stored, char *err, size_t errlen);

/* Wipes and frees a plaintext returned by secret_open. NULL is fine. */
void secret_free(char *plain);

/* Constant-time equality of two n-byte buffers (CRYPTO_memcmp). */
bool secret_equal(const void *a, const void *b, size_t n);

/* Replaces every occurrence of needle (a secret, at least 4 bytes) in the len bytes at text with
 * "[redacted]" in place when it fits, shrinking the text; returns the new length. Used on upstream
 * answers that may echo the channel key. text need not be NUL-terminated; the result is not
 * terminated either. */
size_t secret_redact(char *text, size_t len, const char *needle);

#endif
