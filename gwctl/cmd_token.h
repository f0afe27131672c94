/*
 * cmd_token: the handlers of gwctl token (gwctl/cmd_token.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_TOKEN_H
#define RELAY_GWCTL_CMD_TOKEN_H

struct gwctl;

int cmd_token_create(struct gwctl *g, int argc, char **argv);
int cmd_token_list(struct gwctl *g, int argc, char **argv);
int cmd_token_show(struct gwctl *g, int argc, char **argv);
int cmd_token_edit(struct gwctl *g, int argc, char **argv);
int cmd_token_enable(struct gwctl *g, int argc, char **argv);
int cmd_token_disable(struct gwctl *g, int argc, char **argv);
int cmd_token_rotate(struct gwctl *g, int argc, char **argv);
int cmd_token_rm(struct gwctl *g, int argc, char **argv);

#endif
