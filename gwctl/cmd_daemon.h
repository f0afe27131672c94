/*
 * cmd_daemon: the handlers of gwctl status, stats, reload, drain, undrain (gwctl/cmd_daemon.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_DAEMON_H
#define RELAY_GWCTL_CMD_DAEMON_H

struct gwctl;

int cmd_daemon_status(struct gwctl *g, int argc, char **argv);
int cmd_daemon_stats(struct gwctl *g, int argc, char **argv);
int cmd_daemon_reload(struct gwctl *g, int argc, char **argv);
int cmd_daemon_drain(struct gwctl *g, int argc, char **argv);
int cmd_daemon_undrain(struct gwctl *g, int argc, char **argv);

#endif
