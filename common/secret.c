/* secret: see secret.h. */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NONCE_BYTES 12
#define TAG_BYTES 16
#define HEADER_LEN (sizeof SECRET_V1 - 1 + SECRET_KEYID_LEN + 1)   /* "enc:v1:" ID ":" */
#define SECRET_MAX_PLAIN (64 * 1024)

int secret_key_path(const char *configured, const char *db_url, char *out, size_t outlen, char *err,
                    size_t errlen)
{
  const char *env = getenv("RELAY_MASTER_KEY_FILE");
  const char *cred = getenv("CREDENTIALS_DIRECTORY");
  int n;
  if (configured && *configured) {
    n = snprintf(out, outlen, "%s", configured);
  } else if (env && *env) {
    n = snprintf(out, outlen, "%s", env);
  } else {
    char cpath[600];
    struct stat st;
    if (cred && *cred && snprintf(cpath, sizeof cpath, "%s/master.key", cred) < (int)sizeof cpath &&
        stat(cpath, &st) == 0) {
      n = snprintf(out, outlen, "%s", cpath);
    } else if (db_url && strncmp(db_url, "sqlite:", 7) == 0) {
      const char *p = db_url + 7;
      const char *slash = strrchr(p, '/');
      if (slash)
        n = snprintf(out, outlen, "%.*s/master.key", (int)(slash - p), p);
      else
        n = snprintf(out, outlen, "master.key");
    } else {
      n = snprintf(out, outlen, "%s", SECRET_DEFAULT_SYSTEM_PATH);
    }
  }
  if (n < 0 || (size_t)n >= outlen) {
    snprintf(err, errlen, "master key file path longer than %zu bytes", outlen - 1);
    return -1;
  }
  return 0;
}

static void key_id(struct secret_key *k)
{
  static const char digits[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  static const char label[] = "relay master key id";
  if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
      EVP_DigestUpdate(c, label, sizeof label - 1) == 1 &&
      EVP_DigestUpdate(c, k->bytes, sizeof k->bytes) == 1 && EVP_DigestFinal_ex(c, md, &mdlen) == 1) {
    for (int i = 0; i < SECRET_KEYID_LEN / 2; i++) {
      k->id[2 * i] = digits[md[i] >> 4];
      k->id[2 * i + 1] = digits[md[i] & 15];
    }
  } else {
    memset(k->id, '0', SECRET_KEYID_LEN);
  }
  k->id[SECRET_KEYID_LEN] = '\0';
  EVP_MD_CTX_free(c);
}

/* Creates path with 32 random bytes, atomically: written to a temporary file in the same directory,
 * then link()ed into place, so a concurrent reader never sees a short file and a concurrent creator
 * never has its key replaced. Returns 0, 1 when someone else created it first, -1 on error. */
static int create_key_file(const char *path, char *err, size_t errlen)
{
  unsigned char rnd[SECRET_KEY_BYTES];
  char tmp[600];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
    snprintf(err, errlen, "master key file %s: path too long", path);
    return -1;
  }
  if (RAND_bytes(rnd, sizeof rnd) != 1) {
    snprintf(err, errlen, "master key file %s: no randomness available to create it", path);
    return -1;
  }
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    snprintf(err, errlen, "cannot create master key file %s: %s", path, strerror(errno));
    OPENSSL_cleanse(rnd, sizeof rnd);
    return -1;
  }
  ssize_t w = write(fd, rnd, sizeof rnd);
  OPENSSL_cleanse(rnd, sizeof rnd);
  int ok = w == (ssize_t)sizeof rnd && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
  int saved = errno;
  if (close(fd) != 0)
    ok = 0;
  if (!ok) {
    unlink(tmp);
    snprintf(err, errlen, "cannot write master key file %s: %s", path, strerror(saved));
    return -1;
  }
  int rc = link(tmp, path);
  saved = errno;
  unlink(tmp);
  if (rc == 0)
    return 0;
  if (saved == EEXIST)
    return 1;
  snprintf(err, errlen, "cannot create master key file %s: %s", path, strerror(saved));
  return -1;
}

int secret_key_load(struct secret_key *k, const char *path, bool create, bool *created, char *err,
                    size_t errlen)
{
  memset(k, 0, sizeof *k);
  if (created)
    *created = false;
  if (snprintf(k->path, sizeof k->path, "%s", path) >= (int)sizeof k->path) {
    snprintf(err, errlen, "master key file path longer than %zu bytes", sizeof k->path - 1);
    return -1;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT && create) {
    int rc = create_key_file(path, err, errlen);
    if (rc < 0)
      return -1;
    if (rc == 0 && created)
      *created = true;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) {
    if (errno == ENOENT)
      snprintf(err, errlen, "master key file %s does not exist (channel keys are encrypted with it; "
               "relayd creates it on first start)", path);
    else
      snprintf(err, errlen, "cannot open master key file %s: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "master key file %s is not a regular file", path);
    close(fd);
    return -1;
  }
  if (st.st_mode & 077) {
    snprintf(err, errlen, "master key file %s has mode %04o: group and others must have no access "
             "(chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
    close(fd);
    return -1;
  }
  if (st.st_size != SECRET_KEY_BYTES) {
    snprintf(err, errlen, "master key file %s holds %lld bytes, a master key is exactly %d random "
             "bytes (a damaged key file is never replaced: restore it from backup)", path,
             (long long)st.st_size, SECRET_KEY_BYTES);
    close(fd);
    return -1;
  }
  size_t got = 0;
  while (got < SECRET_KEY_BYTES) {
    ssize_t r = read(fd, k->bytes + got, SECRET_KEY_BYTES - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  if (got != SECRET_KEY_BYTES) {
    secret_key_wipe(k);
    snprintf(err, errlen, "cannot read master key file %s", path);
    return -1;
  }
  key_id(k);
  k->loaded = true;
  return 0;
}

void secret_key_wipe(struct secret_key *k)
{
  OPENSSL_cleanse(k->bytes, sizeof k->bytes);
  k->loaded = false;
}

bool secret_is_sealed(const char *stored)
{
  return stored && strncmp(stored, SECRET_PREFIX, sizeof SECRET_PREFIX - 1) == 0;
}

char *secret_seal(const struct secret_key *k, const char *plain, size_t len, char *err, size_t errlen)
{
  if (!k || !k->loaded) {
    snprintf(err, errlen, "no master key loaded");
    return NULL;
  }
  if (len > SECRET_MAX_PLAIN) {
    snprintf(err, errlen, "secret longer than %d bytes", SECRET_MAX_PLAIN);
    return NULL;
  }
  char header[HEADER_LEN + 1];
  snprintf(header, sizeof header, "%s%s:", SECRET_V1, k->id);
  size_t rawlen = NONCE_BYTES + len + TAG_BYTES;
  unsigned char *raw = malloc(rawlen);
  size_t b64cap = 4 * ((rawlen + 2) / 3) + 1;
  char *out = malloc(HEADER_LEN + b64cap);
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int ok = raw && out && c && RAND_bytes(raw, NONCE_BYTES) == 1;
  int outl = 0, fl = 0;
  ok = ok && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
       EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) == 1 &&
       EVP_EncryptInit_ex(c, NULL, NULL, k->bytes, raw) == 1 &&
       EVP_EncryptUpdate(c, NULL, &outl, (const unsigned char *)header, (int)HEADER_LEN) == 1 &&
       EVP_EncryptUpdate(c, raw + NONCE_BYTES, &outl, (const unsigned char *)plain, (int)len) == 1 &&
       EVP_EncryptFinal_ex(c, raw + NONCE_BYTES + outl, &fl) == 1 &&
       (size_t)(outl + fl) == len &&
       EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, raw + NONCE_BYTES + len) == 1;
  EVP_CIPHER_CTX_free(c);
  if (ok) {
    memcpy(out, header, HEADER_LEN);
    int n = EVP_EncodeBlock((unsigned char *)out + HEADER_LEN, raw, (int)rawlen);
    out[HEADER_LEN + (size_t)(n > 0 ? n : 0)] = '\0';
    ok = n > 0;
  }
  if (raw) {
    OPENSSL_cleanse(raw, rawlen);
    free(raw);
  }
  if (!ok) {
    free(out);
    snprintf(err, errlen, "encryption failed (OpenSSL)");
    return NULL;
  }
  return out;
}

char *secret_open(const struct secret_key *k, const char *stored, char *err, size_t errlen)
{
  if (!secret_is_sealed(stored)) {
    char *p = strdup(stored ? stored : "");
    if (!p)
      snprintf(err, errlen, "out of memory");
    return p;
  }
  if (strncmp(stored, SECRET_V1, sizeof SECRET_V1 - 1) != 0) {
    snprintf(err, errlen, "encrypted with an unknown format version (this relay reads enc:v1)");
    return NULL;
  }
  size_t slen = strlen(stored);
  const char *id = stored + sizeof SECRET_V1 - 1;
  if (slen < HEADER_LEN || id[SECRET_KEYID_LEN] != ':') {
    snprintf(err, errlen, "the encrypted value is damaged (no key id)");
    return NULL;
  }
  if (!k || !k->loaded) {
    snprintf(err, errlen, "encrypted under master key %.8s, but no master key is loaded", id);
    return NULL;
  }
  if (!secret_equal(id, k->id, SECRET_KEYID_LEN)) {
    snprintf(err, errlen, "encrypted under master key %.8s, but the master key file %s is key %s "
             "(wrong master key file?)", id, k->path, k->id);
    return NULL;
  }
  const char *b64 = stored + HEADER_LEN;
  size_t b64len = slen - HEADER_LEN;
  if (b64len % 4 != 0 || b64len < 4 * ((NONCE_BYTES + TAG_BYTES + 2) / 3) ||
      b64len > 4 * ((SECRET_MAX_PLAIN + NONCE_BYTES + TAG_BYTES + 2) / 3)) {
    snprintf(err, errlen, "the encrypted value is damaged (bad length)");
    return NULL;
  }
  size_t pad = 0;
  if (b64[b64len - 1] == '=')
    pad++;
  if (b64[b64len - 2] == '=')
    pad++;
  unsigned char *raw = malloc(b64len / 4 * 3 + 1);
  if (!raw) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64len);
  if (n < 0 || (size_t)n < pad || (size_t)n - pad < NONCE_BYTES + TAG_BYTES) {
    free(raw);
    snprintf(err, errlen, "the encrypted value is damaged (not base64)");
    return NULL;
  }
  size_t rawlen = (size_t)n - pad;
  size_t clen = rawlen - NONCE_BYTES - TAG_BYTES;
  char *plain = malloc(clen + 1);
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int outl = 0, fl = 0;
  int ok = plain && c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
           EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) == 1 &&
           EVP_DecryptInit_ex(c, NULL, NULL, k->bytes, raw) == 1 &&
           EVP_DecryptUpdate(c, NULL, &outl, (const unsigned char *)stored, (int)HEADER_LEN) == 1 &&
           EVP_DecryptUpdate(c, (unsigned char *)plain, &outl, raw + NONCE_BYTES, (int)clen) == 1 &&
           EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, raw + NONCE_BYTES + clen) == 1 &&
           EVP_DecryptFinal_ex(c, (unsigned char *)plain + outl, &fl) == 1 &&
           (size_t)(outl + fl) == clen;
  EVP_CIPHER_CTX_free(c);
  OPENSSL_cleanse(raw, b64len / 4 * 3 + 1);
  free(raw);
  if (!ok) {
    if (plain) {
      OPENSSL_cleanse(plain, clen + 1);
      free(plain);
    }
    snprintf(err, errlen, "the encrypted value does not authenticate under master key %s "
             "(damaged, or the master key file was changed)", k->id);
    return NULL;
  }
  plain[clen] = '\0';
  if (memchr(plain, '\0', clen)) {
    secret_free(plain);
    snprintf(err, errlen, "the decrypted value holds a NUL byte");
    return NULL;
  }
  return plain;
}

void secret_free(char *plain)
{
  if (!plain)
    return;
  OPENSSL_cleanse(plain, strlen(plain));
  free(plain);
}

bool secret_equal(const void *a, const void *b, size_t n)
{
  return CRYPTO_memcmp(a, b, n) == 0;
}

size_t secret_redact(char *text, size_t len, const char *needle)
{
  static const char mark[] = "[redacted]";
  size_t nl = needle ? strlen(needle) : 0;
  if (nl < 4 || !text)
    return len;
  size_t r = 0, w = 0;
  while (r < len) {
    if (len - r >= nl && text[r] == needle[0] && memcmp(text + r, needle, nl) == 0) {
      if (nl >= sizeof mark - 1) {
        memcpy(text + w, mark, sizeof mark - 1);
        w += sizeof mark - 1;
      } else {
        memset(text + w, '*', nl);
        w += nl;
      }
      r += nl;
    } else {
      text[w++] = text[r++];
    }
  }
  return w;
}
