/*
 * gwctl init: creates the database named by --db / RELAY_DB (a SQLite file with its missing
 * directories, mode 0600; on PostgreSQL the schema in an existing database) or brings an existing
 * one's schema up to date, and prints it with its identity (database id) and schema version.
 * Running it again changes nothing. Every other command refuses a missing database (gw_open).
 *
 * Callers: the command table in main.c.
 * Never: creates anything but the database named; touches relayd (there is nothing to reload).
 */
#include "gwctl.h"
#include "i18n.h"
#include "cmd_init.h"
#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Whether the database already has relay's schema; prints nothing. */
static int has_schema(const char *url)
{
  struct stat sb;
  char err[512];
  if (!db_url_is_postgres(url) && strncmp(url, "sqlite:", 7) == 0 && stat(url + 7, &sb) != 0)
    return 0;
  struct db *d = db_open_existing(url, err, sizeof err);
  if (!d)
    return 0;
  struct db_stmt *st = db_prepare(d, "SELECT 1 FROM schema_migrations");
  int ok = st && db_step(st) != DB_ERROR;   /* PostgreSQL prepares when it runs */
  db_finalize(st);
  db_close(d);
  return ok;
}

int cmd_init(struct gwctl *g, int argc, char **argv)
{
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0)
    return rc;
  if (!g->db_url || !*g->db_url)
    return gw_err(GW_USAGE, "init: no database: give --db URL or set RELAY_DB "
                  "(e.g. sqlite:data/relay.db)");
  int existed = has_schema(g->db_url);
  g->may_create = 1;
  if ((rc = gw_open(g)) != 0)
    return rc;
  char id[80], shown[1024];
  if (db_identity(g->db, id, sizeof id) != 0)
    return gw_dberr(g, "cannot read the database id");
  db_url_redact(g->db_url, shown, sizeof shown);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "database", shown);
  cJSON_AddBoolToObject(o, "created", !existed);
  cJSON_AddStringToObject(o, "database_id", id);
  cJSON_AddNumberToObject(o, "schema_version", db_schema_version(g->db));
  if (g->json)
    rc = out_object(1, o, NULL) != 0 ? gw_err(GW_FAIL, "out of memory") : GW_OK;
  else
    printf(existed ? _("up to date: %s (database id %s, schema version %d)\n")
                   : _("created %s (database id %s, schema version %d)\n"),
           shown, id, db_schema_version(g->db));
  cJSON_Delete(o);
  return rc;
}
