/* installed: see installed.h. */
#include "installed.h"

#include <stdlib.h>
#include <unistd.h>

#include "paths.h"

void relay_paths_default(struct relay_paths *p)
{
  static const char installed_db[] = RELAY_STATEDIR "/relay.db", installed_sock[] = RELAY_RUNDIR "/admin.sock";
  const char *env;
  p->db_url = p->socket = NULL;
  p->socket_from_env = p->db_installed = false;
  if ((env = getenv("RELAY_DB")) && *env) {
    p->db_url = env;
  } else if (!env && access(installed_db, F_OK) == 0) {
    p->db_url = "sqlite:" RELAY_STATEDIR "/relay.db";
    p->db_installed = true;
  }
  if ((env = getenv("RELAY_SOCKET")) && *env) {
    p->socket = env;
    p->socket_from_env = true;
  } else if (!env && access(installed_sock, F_OK) == 0) {
    p->socket = installed_sock;
  }
}
