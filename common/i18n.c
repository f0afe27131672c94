/*
 * i18n: locale and catalog set-up for gwctl and gwtui. See i18n.h.
 */
#include "i18n.h"
#include "paths.h"

#include <locale.h>
#include <stdlib.h>

#ifndef RELAY_LOCALEDIR
#define RELAY_LOCALEDIR "/usr/local/share/locale"
#endif

void i18n_init(void)
{
  /* only these two: LC_NUMERIC stays "C" (printf's decimal point is part of the output format) */
  setlocale(LC_CTYPE, "");
  setlocale(LC_MESSAGES, "");
  const char *dir = getenv("RELAY_LOCALEDIR");
  bindtextdomain(RELAY_TEXTDOMAIN, dir && *dir ? dir : RELAY_LOCALEDIR);
  /* the catalogs are UTF-8; gettext converts them to LC_CTYPE's codeset */
  textdomain(RELAY_TEXTDOMAIN);
}
