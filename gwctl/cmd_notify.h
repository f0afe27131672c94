/*
 * cmd_notify: the handler of gwctl notify test (gwctl/cmd_notify.c): POSTs a test event to option
 * webhook_url (or --url), in the shape relayd's notifications have (common/hookevent.h), so an
 * operator sees the receiver works. argv[0] is the verb; returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file; prints the URL
 * (it may hold a token).
 */
#ifndef RELAY_GWCTL_CMD_NOTIFY_H
#define RELAY_GWCTL_CMD_NOTIFY_H

struct gwctl;

int cmd_notify_test(struct gwctl *g, int argc, char **argv);

#endif
