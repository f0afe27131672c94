/*
 * i18n: the interface languages of gwctl and gwtui (GNU gettext, text domain "relay").
 *
 * Owns: the locale set-up of the two front ends (LC_MESSAGES and LC_CTYPE follow LANG / LC_ALL /
 * LC_MESSAGES / LANGUAGE; LC_NUMERIC and every other category stay "C", so numbers, --json, --tsv
 * and CSV never change with the language) and where the catalogs are read from ($RELAY_LOCALEDIR,
 * else the install directory $(DATADIR)/locale compiled in as RELAY_LOCALEDIR). The catalogs are
 * po/<lang>.po, compiled by the Makefile into $(BUILD)/locale/<lang>/LC_MESSAGES/relay.mo.
 * Callers: gwctl/main.c and gwtui/main.c call i18n_init() once, before printing; the printing helpers
 * (gwctl's gw_err, gw_usage, not_live, gw_confirm, help and usage printers; gwtui's say,
 * ask_confirm, header, status line, key help) translate with _(); the Makefile's XGETTEXT_KEYWORDS
 * names them for xgettext. Every other line a person reads is _() (ngettext() for a count) where
 * it is printed: gwctl's confirmation lines ("created ...", "N channels enabled"), log explain,
 * import and apply summaries; gwtui's panels, headings, details, hints and messages. N_() marks a
 * string a table holds (command summaries, key help, gwtui's panel names), translated where it is
 * printed. Table headers and column values stay English: they name the --json/--tsv fields.
 * The guard: scripts/i18n-check.py (make po-check) fails on a literal with words printed outside
 * gettext; machine-read output is marked "i18n: not translated: why" in the source.
 * The common/ modules whose reasons gwctl and gwtui print (quota.c amounts, options.c values, when.c
 * times, admin_client.c connection errors, db.c opening a database, breakdown.c a logged charge)
 * translate them with _() too: relayd, which links them but never calls i18n_init(), stays in the
 * "C" locale, where gettext returns the English text. No code matches a message's text.
 * Never: used by relayd (its logs, API errors and metrics are machine-read and stay English), and
 * never translates machine-readable output (JSON, TSV, CSV, exit codes, numbers).
 */
#ifndef RELAY_I18N_H
#define RELAY_I18N_H

#include <libintl.h>

#define RELAY_TEXTDOMAIN "relay"
#define _(s) gettext(s)
#define N_(s) (s)

/* setlocale for LC_CTYPE and LC_MESSAGES only, bindtextdomain (RELAY_LOCALEDIR env var, else the
 * compiled-in directory), textdomain. Failing to find a locale or a catalog is not an error: the
 * messages stay English. */
void i18n_init(void);

#endif
