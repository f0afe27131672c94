/* keys: see keys.h. */
#include "keys.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char key_alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int key_generate(char *out, size_t outlen)
{
  unsigned char rnd[KEY_BODY_LEN];
  size_t i = 0;
  if (outlen < 3 + KEY_BODY_LEN + 1)
    return -1;
  memcpy(out, "sk-", 3);
  while (i < KEY_BODY_LEN) {
    if (RAND_bytes(rnd, sizeof rnd) != 1)
      return -1;
    /* rejection sampling keeps the 62 symbols uniform: 248 = 4 * 62 */
    for (size_t j = 0; j < sizeof rnd && i < KEY_BODY_LEN; j++)
      if (rnd[j] < 248)
        out[3 + i++] = key_alphabet[rnd[j] % 62];
  }
  out[3 + KEY_BODY_LEN] = '\0';
  return 0;
}

/* SHA-256 fetched once for the process (OpenSSL 3 looks the algorithm up in its provider table on
 * every EVP_sha256() digest otherwise: a lock and a hash lookup per call), and one digest context
 * per thread, reused (freed when the thread ends). Both are only a cache of the same computation:
 * the digest is the one EVP_Digest gives. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t sha256_ctx_key;

static void sha256_ctx_free(void *p)
{
  EVP_MD_CTX_free(p);
}

static void sha256_setup(void)
{
  sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);   /* process lifetime: never freed */
  if (pthread_key_create(&sha256_ctx_key, sha256_ctx_free) != 0)
    sha256_md = NULL;                                 /* the slow path below still works */
}

/* This thread's digest context (owned by the thread's key slot), or NULL. */
static EVP_MD_CTX *sha256_ctx(void)
{
  pthread_once(&sha256_once, sha256_setup);
  if (!sha256_md)
    return NULL;
  EVP_MD_CTX *c = pthread_getspecific(sha256_ctx_key);
  if (!c && (c = EVP_MD_CTX_new()) != NULL && pthread_setspecific(sha256_ctx_key, c) != 0) {
    EVP_MD_CTX_free(c);
    c = NULL;
  }
  return c;
}

void key_hash(const char *body, size_t len, char hex[KEY_HASH_HEX_LEN + 1])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  static const char digits[] = "0123456789abcdef";
  EVP_MD_CTX *c = sha256_ctx();
  if (!c || EVP_DigestInit_ex2(c, sha256_md, NULL) != 1 || EVP_DigestUpdate(c, body, len) != 1 ||
      EVP_DigestFinal_ex(c, md, &mdlen) != 1)
    EVP_Digest(body, len, md, &mdlen, EVP_sha256(), NULL);
  for (unsigned int i = 0; i < mdlen && i < KEY_HASH_HEX_LEN / 2; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[KEY_HASH_HEX_LEN] = '\0';
}

const char *key_body(const char *key)
{
  return strncmp(key, "sk-", 3) == 0 ? key + 3 : key;
}

int key_validate(const char *key, char *err, size_t errlen)
{
  const char *b = key_body(key);
  size_t n = strlen(b);
  if (n < 8 || n > KEY_MAX_LEN) {
    snprintf(err, errlen, "a key must have 8 to %d characters after \"sk-\", this one has %zu",
             KEY_MAX_LEN, n);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    char c = b[i];
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_')) {
      snprintf(err, errlen, "a key may contain only letters, digits and '_' after \"sk-\" "
               "(character %zu is not one)", i + 1);
      return -1;
    }
  }
  return 0;
}

void key_hint(const char *key, char hint[KEY_HINT_MAX])
{
  const char *b = key_body(key);
  size_t n = strlen(b);
  if (n < 8)
    snprintf(hint, KEY_HINT_MAX, "sk-...");
  else
    snprintf(hint, KEY_HINT_MAX, "sk-%.4s...%s", b, b + n - 4);
}
