/*
 * adminsock: the admin socket (JSON lines over a Unix stream socket, doc/admin-protocol.md) and
 * the main thread's event loop: signals (signalfd: SIGHUP reloads, SIGTERM/SIGINT stop), admin
 * clients, reload requests (an eventfd), database notifications, systemd's watchdog, and the live
 * request events fanned out to subscribers. Each line a client sends is one verb, run by admin.c.
 * Output to each client is queued and written as it reads (a client that reads nothing for 10 s
 * is dropped), so a slow client never holds up signals, reloads or the other clients.
 * Callers: main.c; the writer (admin_request_reload, by the hook set here). Never: runs on a
 * worker; holds a lock a worker waits on; waits on a client.
 */
#ifndef RELAY_ADMINSOCK_H
#define RELAY_ADMINSOCK_H

#include <stddef.h>

struct admin_ctx;

/* Binds the socket: mode 0600, or 0660 with group admin_group when that is not "" (the group must
 * exist). Every connection is then checked with SO_PEERCRED: uid 0, relayd's own uid, or a member of
 * admin_group (primary or supplementary). -1 with err when it cannot bind; ADMIN_LISTEN_IN_USE (-2)
 * with err when a live relayd answers on it. */
#define ADMIN_LISTEN_IN_USE (-2)
int admin_listen(const char *path, const char *admin_group, char *err, size_t errlen);
/* Asks the admin loop to reload the snapshot soon (any thread; never blocks). */
void admin_request_reload(void);
/* Runs until SIGTERM or SIGINT. The signals must be blocked in every thread before. */
void admin_run(struct admin_ctx *ctx, int listen_fd);

#endif
