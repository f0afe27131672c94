/*
 * notify: the systemd notification protocol (sd_notify(3)) spoken directly, without libsystemd:
 * one AF_UNIX datagram per message to $NOTIFY_SOCKET (a path, or an abstract name written with a
 * leading '@'). relayd sends READY=1 once its listeners and database are up, RELOADING=1 with
 * MONOTONIC_USEC=... then READY=1 around a SIGHUP reload, STOPPING=1 when it starts to stop,
 * STATUS=... lines for `systemctl status`, and WATCHDOG=1 when $WATCHDOG_USEC asks for it.
 * Every call is a no-op when $NOTIFY_SOCKET is unset.
 * Callers: main.c and admin.c (main thread only). Never: blocks (non-blocking socket; a message
 * that cannot be sent is dropped).
 */
#ifndef RELAY_NOTIFY_H
#define RELAY_NOTIFY_H

#include <stdint.h>

/* Reads $NOTIFY_SOCKET and $WATCHDOG_USEC (when $WATCHDOG_PID is unset or ours). */
void notify_init(void);
/* Sends one message (lines "KEY=VALUE\n..."); returns 0 when sent or when there is no socket. */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notify_ready(const char *status);
void notify_reloading(void);
void notify_stopping(const char *status);
/* The watchdog interval systemd asked for, in microseconds; 0 when none. */
uint64_t notify_watchdog_usec(void);
void notify_close(void);

#endif
