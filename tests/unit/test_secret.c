/* test_secret: common/secret.c: master key file rules, AES-256-GCM seal/open round trip, tamper and
 * wrong-key detection, legacy plaintext, redaction, key path resolution. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"
#include "tap.h"

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd >= 0) {
    ssize_t w = write(fd, p, n);
    (void)w;
    fchmod(fd, mode);
    close(fd);
  }
}

int main(void)
{
  char dir[] = "/tmp/relay-secret-XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  char path[256], path2[256], err[700];
  snprintf(path, sizeof path, "%s/master.key", dir);
  snprintf(path2, sizeof path2, "%s/other.key", dir);

  struct secret_key k, k2, k3;
  bool created = false;
  CHECK(secret_key_load(&k, path, false, NULL, err, sizeof err) < 0 && strstr(err, "does not exist"),
        "a missing key file is an error without create: %s", err);
  CHECK(secret_key_load(&k, path, true, &created, err, sizeof err) == 0 && created,
        "a missing key file is created");
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == SECRET_KEY_BYTES,
        "created 0600 with 32 bytes (mode %o size %lld)", (unsigned)(st.st_mode & 0777),
        (long long)st.st_size);
  CHECK(secret_key_load(&k2, path, true, &created, err, sizeof err) == 0 && !created &&
        memcmp(k.bytes, k2.bytes, SECRET_KEY_BYTES) == 0 && strcmp(k.id, k2.id) == 0,
        "loading again gives the same key and does not recreate it");

  chmod(path, 0640);
  CHECK(secret_key_load(&k3, path, true, NULL, err, sizeof err) < 0 && strstr(err, "mode 0640"),
        "a group-readable key file is refused: %s", err);
  chmod(path, 0604);
  CHECK(secret_key_load(&k3, path, true, NULL, err, sizeof err) < 0, "a world-readable key file is refused");
  chmod(path, 0600);

  write_file(path2, "short", 5, 0600);
  CHECK(secret_key_load(&k3, path2, true, NULL, err, sizeof err) < 0 && strstr(err, "5 bytes"),
        "a damaged key file is refused, not replaced: %s", err);
  CHECK(stat(path2, &st) == 0 && st.st_size == 5, "the damaged file is left as it was");

  const char *plain = "sk-upstream-SECRET-0123456789abcdef";
  char *sealed = secret_seal(&k, plain, strlen(plain), err, sizeof err);
  CHECK(sealed && strncmp(sealed, "enc:v1:", 7) == 0 && !strstr(sealed, "SECRET"),
        "sealed value is enc:v1: and hides the plaintext");
  char *sealed2 = secret_seal(&k, plain, strlen(plain), err, sizeof err);
  CHECK(sealed && sealed2 && strcmp(sealed, sealed2) != 0, "two seals of one value differ (random nonce)");
  char *opened = sealed ? secret_open(&k, sealed, err, sizeof err) : NULL;
  CHECK(opened && strcmp(opened, plain) == 0, "open gives the plaintext back");
  secret_free(opened);

  /* tamper with one base64 character of the ciphertext */
  if (sealed) {
    char *t = strdup(sealed);
    size_t n = strlen(t);
    t[n - 6] = t[n - 6] == 'A' ? 'B' : 'A';
    opened = secret_open(&k, t, err, sizeof err);
    CHECK(!opened && strstr(err, "does not authenticate"), "a tampered value does not open: %s", err);
    secret_free(opened);
    /* tamper with the key id in the header (AAD) */
    strcpy(t, sealed);
    t[7] = t[7] == '0' ? '1' : '0';
    opened = secret_open(&k, t, err, sizeof err);
    CHECK(!opened && strstr(err, "encrypted under master key"), "a changed key id is reported: %s", err);
    secret_free(opened);
    free(t);
  }

  /* another master key: a clear error naming both key ids, never garbage */
  unsigned char other[SECRET_KEY_BYTES];
  memset(other, 7, sizeof other);
  write_file(path2, other, sizeof other, 0600);
  CHECK(secret_key_load(&k3, path2, false, NULL, err, sizeof err) == 0 && strcmp(k3.id, k.id) != 0,
        "a second key has another id");
  opened = sealed ? secret_open(&k3, sealed, err, sizeof err) : NULL;
  CHECK(!opened && strstr(err, k.id) && strstr(err, k3.id) && strstr(err, "wrong master key"),
        "the wrong master key is named as such: %s", err);
  opened = sealed ? secret_open(NULL, sealed, err, sizeof err) : NULL;
  CHECK(!opened && strstr(err, "no master key"), "no master key: %s", err);

  opened = secret_open(&k, "plain-legacy-key", err, sizeof err);
  CHECK(opened && strcmp(opened, "plain-legacy-key") == 0, "legacy plaintext reads through");
  secret_free(opened);
  opened = secret_open(&k, "enc:v9:abcdef01:AAAA", err, sizeof err);
  CHECK(!opened && strstr(err, "unknown format version"), "an unknown version is refused: %s", err);
  opened = secret_open(&k, "enc:v1:", err, sizeof err);
  CHECK(!opened, "a truncated value is refused: %s", err);
  char junk[64];
  snprintf(junk, sizeof junk, "enc:v1:%s:!!!!@@@@####$$$$%%%%^^^^&&&&****", k.id);
  opened = secret_open(&k, junk, err, sizeof err);
  CHECK(!opened, "a value that is not base64 is refused: %s", err);
  char *empty = secret_seal(&k, "", 0, err, sizeof err);
  opened = empty ? secret_open(&k, empty, err, sizeof err) : NULL;
  CHECK(opened && *opened == '\0', "an empty value round-trips");
  secret_free(opened);
  free(empty);

  char text[] = "Incorrect API key provided: sk-upstream-SECRET-0123456789abcdef. Fix it.";
  size_t n = secret_redact(text, strlen(text), plain);
  text[n] = '\0';
  CHECK(!strstr(text, "SECRET") && strstr(text, "[redacted]"), "redact: %s", text);
  char shortt[] = "key=abcd!";
  n = secret_redact(shortt, strlen(shortt), "abcd");
  shortt[n] = '\0';
  CHECK(strcmp(shortt, "key=****!") == 0, "redact of a short secret: %s", shortt);

  CHECK(secret_equal("abcdef", "abcdef", 6) && !secret_equal("abcdef", "abcdeg", 6), "secret_equal");

  char kp[600];
  unsetenv("RELAY_MASTER_KEY_FILE");
  unsetenv("CREDENTIALS_DIRECTORY");
  CHECK(secret_key_path(NULL, "sqlite:/var/lib/relay/relay.db", kp, sizeof kp, err, sizeof err) == 0 &&
        strcmp(kp, "/var/lib/relay/master.key") == 0, "default beside the database: %s", kp);
  CHECK(secret_key_path("", "sqlite:relay.db", kp, sizeof kp, err, sizeof err) == 0 &&
        strcmp(kp, "master.key") == 0, "beside a database in the working directory: %s", kp);
  CHECK(secret_key_path(NULL, "postgres://x/y", kp, sizeof kp, err, sizeof err) == 0 &&
        strcmp(kp, SECRET_DEFAULT_SYSTEM_PATH) == 0, "other databases: %s", kp);
  setenv("RELAY_MASTER_KEY_FILE", "/env/master.key", 1);
  CHECK(secret_key_path(NULL, "sqlite:a/b.db", kp, sizeof kp, err, sizeof err) == 0 &&
        strcmp(kp, "/env/master.key") == 0, "the environment wins over the default: %s", kp);
  CHECK(secret_key_path("/cfg/k", "sqlite:a/b.db", kp, sizeof kp, err, sizeof err) == 0 &&
        strcmp(kp, "/cfg/k") == 0, "the configured path wins: %s", kp);
  unsetenv("RELAY_MASTER_KEY_FILE");

  free(sealed);
  free(sealed2);
  secret_key_wipe(&k);
  secret_key_wipe(&k2);
  secret_key_wipe(&k3);
  unlink(path);
  unlink(path2);
  rmdir(dir);
  return tap_done();
}
