/* channels: see channels.h. */
#include "channels.h"
#include "gwctl.h"
#include "secret.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loads the master key the same way relayd finds it (secret_key_path: $RELAY_MASTER_KEY_FILE, else
 * master.key beside the SQLite database), creating it when missing, so channels can be added before
 * relayd's first start. Returns 0 or GW_FAIL after printing. */
int gw_master_key(struct gwctl *g, struct secret_key *k)
{
  char path[600], err[700];
  if (secret_key_path(NULL, g->db_url, path, sizeof path, err, sizeof err) < 0 ||
      secret_key_load(k, path, true, NULL, err, sizeof err) < 0)
    return gw_err(GW_FAIL, "%s", err);
  return 0;
}

/* Seals plain into a malloc'd stored value (*out; free() it). "" stays "". 0 or GW_FAIL. */
static int seal_key(struct gwctl *g, const char *plain, char **out)
{
  *out = NULL;
  if (!*plain)
    return (*out = strdup("")) ? 0 : gw_err(GW_FAIL, "out of memory");
  struct secret_key k;
  int rc = gw_master_key(g, &k);
  char err[300];
  if (rc == 0 && !(*out = secret_seal(&k, plain, strlen(plain), err, sizeof err)))
    rc = gw_err(GW_FAIL, "cannot encrypt the upstream key: %s", err);
  secret_key_wipe(&k);
  return rc;
}

int gw_channel_set_key(struct gwctl *g, int64_t id, const char *key)
{
  char *sealed = NULL;   /* stored sealed with the master key (secret.h); "" stays "" */
  int rc = seal_key(g, key, &sealed);
  if (rc == 0)
    rc = gw_exec(g, "cannot store the channel key", "UPDATE channels SET key = ?2 WHERE id = ?1",
                 "is", id, sealed);
  free(sealed);
  return rc;
}

int gw_channel_key_equals(struct gwctl *g, int64_t id, const char *key)
{
  struct db_stmt *st = gw_prepare(g, "cannot read the channel key",
                                  "SELECT key FROM channels WHERE id = ?1", "i", id);
  if (!st)
    return -1;
  enum db_step_result r = db_step(st);
  int eq = 0;
  if (r == DB_ROW) {
    /* the stored value is sealed (or legacy plaintext): open it, then compare in constant time */
    const char *stored = db_col_text(st, 0);
    struct secret_key k = { 0 };
    char err[400];
    char *have = NULL;
    if (secret_is_sealed(stored) && gw_master_key(g, &k) != 0)
      eq = -1;
    else if (!(have = secret_open(&k, stored, err, sizeof err))) {
      gw_err(GW_FAIL, "channel %" PRId64 ": cannot decrypt its upstream key: %s", id, err);
      eq = -1;
    }
    secret_key_wipe(&k);
    if (have) {
      size_t n = strlen(have);
      eq = n == strlen(key) && secret_equal(have, key, n);
      secret_free(have);
    }
  }
  db_finalize(st);
  if (r == DB_ERROR) {
    gw_dberr(g, "cannot read the channel key");
    return -1;
  }
  return eq;
}
