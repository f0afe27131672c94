/*
 * cmd_import: the handlers of gwctl import oneapi (gwctl/cmd_import.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_IMPORT_H
#define RELAY_GWCTL_CMD_IMPORT_H

struct gwctl;

int cmd_import_oneapi(struct gwctl *g, int argc, char **argv);

#endif
