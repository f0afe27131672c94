/*
 * gwctl main: global options, THE command table, help and usage errors generated from it, and
 * --list-commands / --list-names for the completions. The only file that names the commands
 * (cmd_<noun>.h); the helpers every command uses are the library's (gwctl.h: gwctl.c).
 *
 * Callers: the shell.
 * Never: writes usage text by hand outside commands[] (help, usage errors, --list-commands and the
 * bash completion all come from it), takes a secret from argv, or leaves a transaction open.
 */
#include "gwctl.h"
#include "installed.h"
#include "cmd_affinity.h"
#include "cmd_apply.h"
#include "cmd_channel.h"
#include "cmd_chankey.h"
#include "cmd_config.h"
#include "cmd_daemon.h"
#include "cmd_group.h"
#include "cmd_import.h"
#include "cmd_init.h"
#include "cmd_limit.h"
#include "cmd_fallback.h"
#include "cmd_log.h"
#include "cmd_notify.h"
#include "cmd_price.h"
#include "cmd_redeem.h"
#include "cmd_token.h"
#include "cmd_user.h"
#include "admin_client.h"
#include "i18n.h"
#include "output.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef RELAY_VERSION
#define RELAY_VERSION "unknown"
#endif

static const struct gw_cmd commands[] = {
  { "init", "", cmd_init, "[--json]",
    N_("create the database (--db / RELAY_DB), or bring its schema up to date; every other command "
    "needs it to exist") },
  { "user", "add", cmd_user_add,
    "NAME --quota Q [--group G] [--role admin|common]",
    N_("create a user with a balance of Q (quota units, 500000 = 1 USD, or dollars: 10usd, $10)") },
  { "user", "list", cmd_user_list, "[--status enabled|disabled] [--group G] [--json]", N_("list users") },
  { "user", "show", cmd_user_show, "NAME|ID [--json]", N_("show one user") },
  { "user", "edit", cmd_user_edit,
    "NAME|ID [--quota Q] [--group G] [--status enabled|disabled] [--role admin|common]",
    N_("change a user (--quota sets the balance)") },
  { "user", "enable", cmd_user_enable, "NAME|ID", N_("let a user's keys work again") },
  { "user", "disable", cmd_user_disable, "NAME|ID", N_("refuse every key of a user") },
  { "user", "topup", cmd_user_topup, "NAME|ID AMOUNT [--json]",
    N_("add AMOUNT (quota units or dollars: 10usd, $10) to a user's balance (logged as a topup)") },
  { "user", "rm", cmd_user_rm, "NAME|ID [--cascade] [--yes]",
    N_("delete a user (refused while it has tokens, unless --cascade deletes them too)") },
  { "group", "list", cmd_group_list, "[--json]",
    N_("list groups with their ratio and how many users, tokens and channels use them") },
  { "group", "set", cmd_group_set, "NAME [--ratio R] [--selectable yes|no]",
    N_("create a group or change its price ratio / whether users may pick it") },
  { "group", "rm", cmd_group_rm, "NAME [--yes]", N_("delete a group nobody uses") },
  { "token", "create", cmd_token_create,
    "--user NAME --name N (--quota Q | --unlimited) [--expires DATE|never] [--models M1,M2] "
    "[--ips IP/CIDR,...] [--group G] [--count N] [--key-file F|-]",
    N_("create an API key for a user and print it, once (--count N: N keys)") },
  { "token", "list", cmd_token_list,
    "[--user NAME] [--status enabled|disabled|expired|exhausted] [--json]", N_("list tokens") },
  { "token", "show", cmd_token_show, "NAME|ID [--user NAME] [--json]", N_("show one token") },
  { "token", "edit", cmd_token_edit,
    "NAME|ID [--user NAME] [--name N] [--quota Q | --unlimited] [--expires DATE|never] "
    "[--models M1,M2] [--ips IP/CIDR,...] [--group G] [--response-cache yes|no]",
    N_("change a token (\"\" clears --models, --ips, --group)") },
  { "token", "enable", cmd_token_enable, "NAME|ID [--user NAME]", N_("let a token work again") },
  { "token", "disable", cmd_token_disable, "NAME|ID [--user NAME]", N_("refuse a token") },
  { "token", "rotate", cmd_token_rotate, "NAME|ID [--user NAME] [--yes] [--json]",
    N_("give a token a new key (printed once); the old key stops working") },
  { "token", "rm", cmd_token_rm, "NAME|ID [--user NAME] [--yes]", N_("delete a token") },
  { "channel", "add", cmd_channel_add,
    "--name N --type TYPE [--base-url URL] --models M1,M2 [--priority P] [--weight W] "
    "[--group G1,G2] [--model-map JSON] [--tag T] [--api-version V] [--account-id ID] [--region R] "
    "[--project P] [--key-mode random|round-robin|sticky] [--no-key]",
    N_("add an upstream channel; its API key is read from stdin (several lines: a key pool)") },
  { "channel", "types", cmd_channel_types, "[--json]",
    N_("list the channel types: wire format, auth header, key, endpoints, default base URL, the URL channel test probes") },
  { "channel", "list", cmd_channel_list,
    "[--tag T] [--status enabled|disabled|auto-disabled] [--reveal] [--json]",
    N_("list channels (their upstream keys only with --reveal); auto-disabled ones with the reason") },
  { "channel", "show", cmd_channel_show, "NAME|ID [--reveal] [--json]",
    N_("show one channel (its upstream key only with --reveal)") },
  { "channel", "edit", cmd_channel_edit,
    "(NAME|ID | --tag T) [--name N] [--type TYPE] [--base-url URL] [--models M1,M2] "
    "[--priority P] [--weight W] [--group G1,G2] [--model-map JSON] [--tag T] [--new-tag T] "
    "[--api-version V] [--key-stdin] [--max-concurrency N] [--rpm N] [--tpm N] [--auto-disable yes|no] "
    "[--test-model M] [--region R] [--project P] [--key-mode random|round-robin|sticky]",
    N_("change one channel, or every channel tagged T (--max-concurrency, --rpm, --tpm 0: no limit)") },
  { "channel", "enable", cmd_channel_enable, "NAME|ID | --tag T",
    N_("enable one channel, or every channel tagged T") },
  { "channel", "disable", cmd_channel_disable, "NAME|ID | --tag T [--yes]",
    N_("disable one channel, or every channel tagged T (needs --yes)") },
  { "channel", "rm", cmd_channel_rm, "NAME|ID [--yes]", N_("delete a channel") },
  { "channel", "key add", cmd_channel_key_add, "NAME|ID [--file F|-] [--json]",
    N_("add keys to a channel's key pool, one a line from stdin or --file (never argv)") },
  { "channel", "key list", cmd_channel_key_list, "NAME|ID [--json]",
    N_("list a channel's keys: index, masked key, status, reason, requests, errors, spend") },
  { "channel", "key remove", cmd_channel_key_remove, "NAME|ID N [--yes]", N_("remove key N of a channel's pool") },
  { "channel", "key enable", cmd_channel_key_enable, "NAME|ID N", N_("let key N of a channel's pool be chosen again") },
  { "channel", "key disable", cmd_channel_key_disable, "NAME|ID N", N_("stop choosing key N of a channel's pool") },
  { "channel", "key limit", cmd_channel_key_limit, "NAME|ID N [--rpm N] [--tpm N] [--concurrency N]",
    N_("limit key N of a channel's pool: requests and tokens per window, open requests (0 removes)") },
  { "channel", "test", cmd_channel_test, "NAME|ID [--model M] [--key N] [--timeout S] [--json]",
    N_("send a tiny request in the channel's API (chat; rerank for cohere/jina); record its latency") },
  { "channel", "balance", cmd_channel_balance, "[NAME|ID] [--timeout S] [--json]",
    N_("read the upstream account's balance now (providers that publish one) and store it") },
  { "channel", "models", cmd_channel_models, "NAME|ID [--timeout S] [--json]",
    N_("list the models the upstream offers (GET /v1/models)") },
  { "affinity", "list", cmd_affinity_list, "[--json]",
    N_("relayd's channel affinity entries: key, model, channel, key index, expiry, hits") },
  { "affinity", "clear", cmd_affinity_clear, "[KEY]",
    N_("forget one affinity key (its next request is routed afresh), or every entry") },
  { "limit", "set", cmd_limit_set,
    "(--token NAME|ID [--user NAME] | --user NAME|ID) [--model M] [--rpm N] [--tpm N]",
    N_("limit requests / tokens per window (option rate_limit_window_s, 60 s) of a token or user, "
    "on one model or all (0 removes)") },
  { "limit", "list", cmd_limit_list, "[--token NAME|ID [--user NAME] | --user NAME|ID] [--json]",
    N_("list rate limits") },
  { "limit", "rm", cmd_limit_rm, "(--token NAME|ID [--user NAME] | --user NAME|ID) [--model M]",
    N_("remove a rate limit") },
  { "fallback", "set", cmd_fallback_set,
    "MODEL --chain M1,M2 [--token NAME|ID [--user NAME] | --group G] [--on context,policy|none]",
    N_("set the models tried in order when every channel of MODEL failed (for everyone, a group or a "
    "token; --on: also after a context-length or content-policy refusal)") },
  { "fallback", "list", cmd_fallback_list, "[--json]", N_("list model fallback chains") },
  { "fallback", "rm", cmd_fallback_rm, "MODEL [--token NAME|ID [--user NAME] | --group G]",
    N_("remove a model fallback chain") },
  { "alert", "set", cmd_alert_set,
    "(--token NAME|ID [--user NAME] | --user NAME|ID) (--percent P | --remain Q)",
    /* xgettext:no-c-format */
    N_("alert once (log row + webhook_url) when P% of the quota is used or at most Q is left; "
    "re-armed by a top-up") },
  { "alert", "list", cmd_alert_list, "[--token NAME|ID [--user NAME] | --user NAME|ID] [--json]",
    N_("list budget alerts and when they fired") },
  { "alert", "rm", cmd_alert_rm, "ID", N_("remove a budget alert") },
  { "notify", "test", cmd_notify_test, "[--url URL] [--timeout S] [--json]",
    N_("POST a test event to webhook_url (relayd's notifications: auto-disables, re-enables, low balances)") },
  { "redeem", "create", cmd_redeem_create,
    "--count N --quota Q [--name NAME] [--expires DATE|never] [--csv FILE] [--json]",
    N_("make N redemption codes worth Q each (quota units or dollars) and print them") },
  { "redeem", "list", cmd_redeem_list,
    "[--status enabled|disabled|used|expired] [--name NAME] [--json]", N_("list redemption codes") },
  { "redeem", "export", cmd_redeem_export, "[--status enabled|disabled|used|expired] [--name NAME]",
    N_("print redemption codes as CSV (name,code,quota,created,status)") },
  { "redeem", "disable", cmd_redeem_disable, "CODE|ID", N_("make an unused code unusable") },
  { "redeem", "rm", cmd_redeem_rm, "CODE|ID [--yes]", N_("delete a redemption code") },
  { "redeem", "use", cmd_redeem_use, "CODE --user NAME [--json]",
    N_("redeem a code for a user: adds its quota, once") },
  { "price", "list", cmd_price_list, "[--json]", N_("list model prices") },
  { "price", "set", cmd_price_set,
    "MODEL (--ratio R [--completion-ratio C] [--cache-ratio K] [--cache-write-ratio W] "
    "[--cache-write-1h-ratio H] | --price USD [--per call|image|second|search]) "
    "[--max-output-tokens N] [--tier ABOVE:ratio=R[,completion=C][,cache=K]|none]",
    N_("set a model's price: token ratios (1 = 2 USD per 1M prompt tokens) or USD per call, image, "
    "second or search; and its maximum output") },
  { "price", "unset", cmd_price_unset, "MODEL", N_("remove a model's price (relayd then refuses it)") },
  { "price", "import", cmd_price_import, "FILE|- [--replace]",
    N_("set prices from a JSON file, all or nothing (--replace: drop models not in it)") },
  { "price", "export", cmd_price_export, "", N_("print every price as JSON (the import format)") },
  { "log", "list", cmd_log_list,
    "[--limit N] [--user NAME] [--token NAME] [--model M] [--channel NAME|ID] [--type T] "
    "[--status CODE] [--since DATE] [--until DATE] [--request-id ID] [--json]",
    N_("list log rows, newest first (default 100)") },
  { "log", "stats", cmd_log_stats,
    "[--by DIM[,DIM...]] [--user NAME] [--token NAME] [--model M] [--channel NAME|ID] "
    "[--type T] [--status CODE] [--since DATE] [--until DATE] [--json]",
    N_("requests, tokens, quota and USD, errors and p95 latency, grouped by any of day, hour, model, "
    "user, token, channel, group, status (default model)") },
  { "log", "tail", cmd_log_tail,
    "[-f | --follow] [--interval S] [--limit N] [--user NAME] [--token NAME] [--model M] "
    "[--channel NAME|ID] [--type T] [--status CODE] [--since DATE] [--until DATE] "
    "[--request-id ID] [--json]",
    N_("print the newest N matching log rows (default 10), oldest first; -f: then each new one as it "
    "is written, until ^C (--json: one object a line)") },
  { "log", "export", cmd_log_export,
    "[--format csv|json] [--limit N] [--user NAME] [--token NAME] [--model M] [--channel NAME|ID] "
    "[--type T] [--status CODE] [--since DATE] [--until DATE] [--request-id ID]",
    N_("print matching log rows as CSV or JSON lines, oldest first") },
  { "log", "explain", cmd_log_explain, "REQUEST_ID [--json]",
    N_("how a request's charge was computed: tokens by kind, every ratio, reserved and charged, "
    "re-computed and checked against the logged quota") },
  { "log", "prune", cmd_log_prune, "--before DATE [--type T] [--yes]",
    N_("delete log rows older than DATE") },
  { "config", "list", cmd_config_list, "[--json]", N_("list runtime options with their values") },
  { "config", "get", cmd_config_get, "KEY [--json]", N_("print one runtime option") },
  { "config", "set", cmd_config_set, "KEY VALUE", N_("set a runtime option") },
  { "config", "unset", cmd_config_unset, "KEY", N_("return a runtime option to its default") },
  { "config", "show", cmd_config_show, "[--json]",
    N_("relayd's start-up settings in force: value, source (default, file, env, cli), reload or restart") },
  { "export", "", cmd_export, "[--kinds channels,groups,prices,users,tokens,options] "
    "[--key-refs none|env|file:DIR]",
    N_("print the configuration as one JSON document (the apply format; no secrets)") },
  { "apply", "", cmd_apply, "-f FILE|- [--dry-run] [--prune] [--set-balances] [--json]",
    N_("make the database match a JSON document: create, update (and with --prune delete); "
    "--dry-run prints the plan and exits 2 when there are changes") },
  { "import", "oneapi", cmd_import_oneapi,
    "--from sqlite:PATH|postgres://...|mysql://... [--flavor auto|oneapi|newapi] [--source NAME] [--dry-run] "
    "[--json]",
    N_("import users, groups, prices, tokens (keys keep working), channels and redemption codes "
    "from a One API or New API database, with a report; run it again to update what it created") },
  { "status", "", cmd_daemon_status, "[--json]", N_("ask relayd how it is (admin socket)") },
  { "stats", "", cmd_daemon_stats, "[--json]", N_("relayd's live counters (admin socket)") },
  { "reload", "", cmd_daemon_reload, "[--json]", N_("make relayd reload the database now") },
  { "drain", "", cmd_daemon_drain, "[--json]",
    N_("make relayd answer new requests with 503 while the running ones finish") },
  { "undrain", "", cmd_daemon_undrain, "[--json]", N_("make relayd take requests again after drain") },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char global_usage[] = "gwctl [--db URL] [--socket PATH] [--json] [--wide] [--no-headers] "
                                   "[--tsv] [--no-pager] NOUN VERB [ARGS]";

/* ---- help --------------------------------------------------------------------------------------- */

static void print_command(FILE *f, const struct gw_cmd *c)
{
  fprintf(f, "  gwctl %s%s%s%s%s\n      %s\n", c->noun, *c->verb ? " " : "", c->verb,
          *c->usage ? " " : "", c->usage, _(c->summary));
}

static void print_help(FILE *f, const char *noun)
{
  fprintf(f, _("usage: %s\n\ncommands:\n"), global_usage);
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!noun || strcmp(noun, commands[i].noun) == 0)
      print_command(f, &commands[i]);
  if (noun)
    return;
  fputs(_("\nglobal options (also accepted after NOUN VERB):\n"
        "  --db URL        the database, sqlite:PATH or postgres://... (default: $RELAY_DB)\n"
        "  --socket PATH   relayd's admin socket, told to reload after a change\n"
        "                  (default: $RELAY_SOCKET; unset: relayd is not told)\n"
        "  --              ends the options: what follows is an argument\n"
        "  --json          print JSON instead of a table\n"
        "  --wide          never cut table cells to fit the terminal\n"
        "  --no-headers    tables without their header line\n"
        "  --tsv           tab-separated cells for scripts (\\t \\n \\r \\\\ escaped)\n"
        "  --no-pager      never page long output on a terminal ($GWCTL_PAGER, $PAGER, less -FRX)\n"
        "  --help          this text (also: gwctl help [NOUN [VERB]])\n"
        "  --version       gwctl's version\n"
        "\nexit status: 0 ok, 1 failure, 2 usage error, 3 not found, 4 conflict (exists, in use,\n"
        "  used), 5 upstream error (channel test/models), 6 change saved but not live (relayd on the\n"
        "  socket serves another database, or was not reached), 69 relayd unreachable,\n"
        "  77 refused by relayd\n"
        "  apply --dry-run: 0 nothing to do, 2 changes to apply (drift), 1 invalid document\n"
        "see gwctl(1)\n"), f);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Tab-separated "noun verb usage" lines, read by completions/gwctl.bash and _gwctl. */
static void list_commands(void)
{
  for (size_t i = 0; i < NCOMMANDS; i++)
    printf("%s\t%s\t%s\n", commands[i].noun, commands[i].verb, commands[i].usage);
}

/* --list-names KIND: the names the shell completions offer, one a line, sorted; nothing and exit 1
 * when the database is unreachable (a completion must stay quiet and never create a file). */
static int list_names(struct gwctl *g, const char *kind)
{
  static const struct { const char *kind, *sql; } q[] = {
    { "user", "SELECT username FROM users ORDER BY 1" },
    { "token", "SELECT DISTINCT name FROM tokens ORDER BY 1" },
    { "channel", "SELECT name FROM channels ORDER BY 1" },
    { "group", "SELECT name FROM groups ORDER BY 1" },
    { "tag", "SELECT DISTINCT tag FROM channels WHERE tag IS NOT NULL AND tag != '' ORDER BY 1" },
    { "model", "SELECT model FROM prices UNION SELECT models FROM channels" },
    /* the most recent request ids (the primary key's order: no scan of a large log) */
    { "request", "SELECT request_id FROM logs WHERE request_id <> '' ORDER BY id DESC LIMIT 200" },
  };
  if (strcmp(kind, "option") == 0) {
    for (size_t i = 0; gw_config_key(i); i++)
      printf("%s\n", gw_config_key(i));
    return GW_OK;
  }
  const char *sql = NULL;
  for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
    if (strcmp(kind, q[i].kind) == 0)
      sql = q[i].sql;
  if (!sql)
    return GW_USAGE;
  const char *url = g->db_url;
  if (!url || !*url || (strncmp(url, "sqlite:", 7) == 0 && access(url + 7, R_OK) != 0))
    return GW_FAIL;
  char err[256];
  g->db = db_open(url, err, sizeof err);
  struct db_stmt *st = g->db ? db_prepare(g->db, sql) : NULL;
  if (!st)
    return GW_FAIL;
  /* models: prices rows are single names, channel rows comma lists; print each once */
  struct strmap seen;
  strmap_init(&seen, 64);
  struct arena a = { 0 };
  char *names[4096];
  size_t n = 0;
  while (db_step(st) == DB_ROW && n < sizeof names / sizeof names[0]) {
    const char *v = db_col_text(st, 0);
    while (v && *v && n < sizeof names / sizeof names[0]) {
      size_t len = strcspn(v, ",");
      if (len && !strmap_getn(&seen, v, len)) {
        names[n] = arena_strndup(&a, v, len);
        strmap_put(&seen, names[n], names[n]);
        n++;
      }
      v += len + (v[len] == ',');
    }
  }
  db_finalize(st);
  qsort(names, n, sizeof names[0], cmp_str);
  for (size_t i = 0; i < n; i++)
    printf("%s\n", names[i]);
  strmap_free(&seen);
  arena_free(&a);
  return GW_OK;
}

static int known_noun(const char *noun)
{
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].noun, noun) == 0)
      return 1;
  return 0;
}

/* "add, list, show" */
static void verbs_of(const char *noun, char *buf, size_t len)
{
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < NCOMMANDS; i++) {
    if (strcmp(commands[i].noun, noun) != 0)
      continue;
    int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", commands[i].verb);
    if (n < 0 || (size_t)n >= len - used)
      break;
    used += (size_t)n;
  }
}

static void nouns(char *buf, size_t len)
{
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < NCOMMANDS; i++) {
    if (i > 0 && strcmp(commands[i - 1].noun, commands[i].noun) == 0)
      continue;
    int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", commands[i].noun);
    if (n < 0 || (size_t)n >= len - used)
      break;
    used += (size_t)n;
  }
}

/* getopt codes of the options only the global parser knows */
enum { OPT_DB = GW_OPT_DB, OPT_SOCKET = GW_OPT_SOCKET, OPT_JSON = GW_OPT_JSON, OPT_HELP = GW_OPT_HELP,
       OPT_VERSION = GW_OPT_END, OPT_LIST, OPT_NAMES };

/* ---- main --------------------------------------------------------------------------------------- */

/* Plural and One API spellings of the nouns. */
static const char *noun_alias(const char *noun)
{
  static const char *const alias[][2] = {
    { "users", "user" }, { "groups", "group" }, { "tokens", "token" }, { "keys", "token" },
    { "channels", "channel" }, { "redemption", "redeem" }, { "redemptions", "redeem" },
    { "prices", "price" }, { "pricing", "price" }, { "logs", "log" }, { "options", "config" },
  };
  for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
    if (strcmp(noun, alias[i][0]) == 0)
      return alias[i][1];
  return noun;
}

static const struct gw_cmd *find_command(const char *noun, const char *verb)
{
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].noun, noun) == 0 && strcmp(commands[i].verb, verb) == 0)
      return &commands[i];
  return NULL;
}

static int run(struct gwctl *g, int argc, char **argv)
{
  static const struct option lo[] = {
    { "db", required_argument, NULL, OPT_DB },
    { "socket", required_argument, NULL, OPT_SOCKET },
    { "json", no_argument, NULL, OPT_JSON },
    GW_OUTPUT_OPTIONS,
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    { "list-commands", no_argument, NULL, OPT_LIST },
    { "list-names", required_argument, NULL, OPT_NAMES },
    { 0, 0, 0, 0 },
  };
  const char *names_kind = NULL;
  char opt[128], list[256];
  int c;
  opterr = 0;
  /* "+": stop at NOUN; what follows belongs to the command */
  while ((c = getopt_long(argc, argv, "+:h", lo, NULL)) != -1) {
    switch (c) {
    case 'h':
    case OPT_HELP:
      print_help(stdout, NULL);
      return GW_OK;
    case OPT_VERSION:
      printf("gwctl %s\n", RELAY_VERSION);
      return GW_OK;
    case OPT_LIST:
      list_commands();
      return GW_OK;
    case OPT_NAMES:
      names_kind = optarg;
      break;
    case ':':
      gw_option_text(argc, argv, opt, sizeof opt);
      return gw_usage(g, "option '%s' needs a value", opt);
    case '?':
      gw_option_text(argc, argv, opt, sizeof opt);
      return gw_usage(g, "unknown option '%s'", opt);
    default:
      gw_set_global(g, c, optarg);
    }
  }
  if (names_kind)               /* after the loop: --db may come later */
    return list_names(g, names_kind);
  argc -= optind;
  argv += optind;
  if (argc == 0) {
    print_help(stderr, NULL);
    return GW_USAGE;
  }
  argv[0] = (char *)noun_alias(argv[0]);
  if (argc >= 2 && strcmp(argv[0], "help") == 0)
    argv[1] = (char *)noun_alias(argv[1]);
  if (strcmp(argv[0], "help") == 0) {
    if (argc >= 2 && !known_noun(argv[1])) {
      nouns(list, sizeof list);
      return gw_usage(g, "help: unknown command '%s'; commands: %s", argv[1], list);
    }
    if (argc >= 3) {
      const struct gw_cmd *cmd = find_command(argv[1], argv[2]);
      if (cmd) {
        gw_print_usage(cmd);
        return GW_OK;
      }
    }
    if (argc == 2 && find_command(argv[1], "")) {
      gw_print_usage(find_command(argv[1], ""));
      return GW_OK;
    }
    print_help(stdout, argc >= 2 ? argv[1] : NULL);
    return GW_OK;
  }
  if (!known_noun(argv[0])) {
    nouns(list, sizeof list);
    return gw_usage(g, "unknown command '%s'; commands: %s, help", argv[0], list);
  }
  g->cmd = find_command(argv[0], "");
  if (g->cmd) {                 /* a one-word command: argv[0] stands where a verb would */
    int rc = g->cmd->run(g, argc, argv);
    return rc == GW_HELP ? GW_OK : rc;
  }
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    print_help(stdout, argv[0]);        /* "gwctl user --help": the noun's verbs */
    return GW_OK;
  }
  verbs_of(argv[0], list, sizeof list);
  if (argc < 2)
    return gw_usage(g, "%s: missing verb; verbs: %s", argv[0], list);
  /* a verb of two words ("channel key add"): the table names it whole */
  char two[64];
  int skip = 1;
  if (argc >= 3 && snprintf(two, sizeof two, "%s %s", argv[1], argv[2]) < (int)sizeof two &&
      find_command(argv[0], two)) {
    g->cmd = find_command(argv[0], two);
    skip = 2;
  } else {
    g->cmd = find_command(argv[0], argv[1]);
  }
  if (!g->cmd)
    return gw_usage(g, "%s: unknown verb '%s'; verbs: %s", argv[0], argv[1], list);
  int rc = g->cmd->run(g, argc - skip, argv + skip);
  return rc == GW_HELP ? GW_OK : rc;
}

int main(int argc, char **argv)
{
  struct gwctl g = { 0 };
  i18n_init();                  /* LC_CTYPE (wcwidth of names in the user's encoding) and LC_MESSAGES
                                   (messages in the user's language); LC_NUMERIC stays C */
  /* RELAY_DB / RELAY_SOCKET, else an installed relayd's files when they exist (common/installed.h,
     the rule gwtui follows too); --db / --socket override */
  struct relay_paths paths;
  relay_paths_default(&paths);
  g.db_url = paths.db_url;
  g.socket = paths.socket;
  g.socket_given = paths.socket_from_env;

  int rc = run(&g, argc, argv);
  if (rc == GW_OK && g.late_rc) {  /* saved but not live: said last, after the command's output */
    fflush(stdout);
    rc = gw_err(g.late_rc, "%s", g.late_msg);
  }
  db_close(g.db);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    gw_err(GW_FAIL, "cannot write the output: %s", strerror(errno));
    if (rc == GW_OK)
      rc = GW_FAIL;
  }
  return rc;
}
