/*
 * cmd_price: the handlers of gwctl price (gwctl/cmd_price.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_PRICE_H
#define RELAY_GWCTL_CMD_PRICE_H

struct gwctl;

int cmd_price_list(struct gwctl *g, int argc, char **argv);
int cmd_price_set(struct gwctl *g, int argc, char **argv);
int cmd_price_unset(struct gwctl *g, int argc, char **argv);
int cmd_price_import(struct gwctl *g, int argc, char **argv);
int cmd_price_export(struct gwctl *g, int argc, char **argv);

#endif
