/*
 * options: the runtime options gwctl knows (table options, key -> value, read by relayd at every
 * reload): each key with relayd's default (relayd/snapshot.c load_options) and the check of its
 * values. An unknown key is refused with the list of known ones.
 * Callers: cmd_config.c (get, set, unset, list), cmd_apply.c and cmd_import.c (checking the options
 * they write), main.c (the completions' --list-names option).
 * Never: touches the database.
 */
#ifndef RELAY_GWCTL_OPTIONS_H
#define RELAY_GWCTL_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct gw_runtime_option {
  const char *key;
  const char *def;              /* relayd's default when the key is not set */
  int64_t min, max;             /* integer options */
  const char *summary;
  const char *text;             /* not NULL: a text option; "|"-separated choices, or "" for any text */
};

/* Every known key, ended by a zero entry. */
extern const struct gw_runtime_option gw_runtime_options[];

/* The i-th known key (NULL past the end). */
const char *gw_config_key(size_t i);
/* Checks a value for key: 0 with the stored form in out, or -1 with the reason in why. */
int gw_config_check(const char *key, const char *value, char *out, size_t outlen, char *why,
                    size_t whylen);
/* Checks a text option's value into out: 0, or -1 with the reason in why. */
int config_text_check(const struct gw_runtime_option *k, const char *v, char *out, size_t outlen, char *why,
                      size_t whylen);
/* The runtime option keys, one a line (gwctl --list-names option, for the completions). */
void config_key_names(FILE *f);

#endif
