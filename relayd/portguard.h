/*
 * portguard: refuses a TCP address that is already served, before relayd binds it.
 * relayd's workers share ONE socket on the API address (main.c opens it, without SO_REUSEPORT), but
 * a program that binds with SO_REUSEPORT first (an older relayd did, one socket per worker) would
 * let another join, and both would start "ready" and split the traffic; a failed bind alone also
 * says nothing of who holds the address. portguard_claim() runs once in main before it binds:
 *   1. a lock: an abstract Unix socket "@relayd-listen/ADDRESS" (one per network namespace, like the
 *      TCP ports; released by the kernel when the process ends, even on kill -9). A second relayd
 *      on the same address fails to bind it, whatever the timing of the two starts;
 *   2. a probe: a socket WITHOUT SO_REUSEPORT bound to the address and closed again. Any program
 *      serving the address (a relayd without the lock, nginx, a socket with SO_REUSEPORT...) makes
 *      it fail with EADDRINUSE.
 * Port 0 ("any free port") is never claimed: each bind gets its own port.
 * Callers: relayd/main.c (API listener and metrics listener). Never: keeps the probe bound (main's
 * bind of the serving socket would fail), binds the address for serving.
 */
#ifndef RELAY_PORTGUARD_H
#define RELAY_PORTGUARD_H

#include <stddef.h>

/* relayd's exit status when an address it must serve (listen, metrics_listen, admin_socket) or its
 * node name is held by someone else: EX_TEMPFAIL (sysexits.h), as for the node lease. */
#define PORTGUARD_EXIT_CODE 75

enum portguard_result { PORTGUARD_OK = 0, PORTGUARD_IN_USE = 1, PORTGUARD_ERROR = -1 };

/* Checks HOST:PORT (what = the setting's name, for messages) and, when lock_fd is not NULL, takes
 * the lock; *lock_fd is then the lock's descriptor (owned by the caller: close it at exit), or -1
 * for port 0. PORTGUARD_IN_USE and PORTGUARD_ERROR leave a message in err. */
enum portguard_result portguard_claim(const char *what, const char *hostport, int *lock_fd, char *err,
                                      size_t errlen);

#endif
