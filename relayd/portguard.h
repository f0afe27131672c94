/*
 * portguard: refuses a TCP address that is already served, before relayd binds it.
 * relayd's workers each bind the API address with SO_REUSEPORT (the kernel spreads connections over
 * them), and so would a second relayd of the same user: both would start "ready" and split the
 * traffic. portguard_claim() runs once in main before any worker binds:
 *   1. a lock: an abstract Unix socket "@relayd-listen/ADDRESS" (one per network namespace, like the
 *      TCP ports; released by the kernel when the process ends, even on kill -9). A second relayd
 *      on the same address fails to bind it, whatever the timing of the two starts;
 *   2. a probe: a socket WITHOUT SO_REUSEPORT bound to the address and closed again. Any program
 *      serving the address (a relayd without the lock, nginx, a socket with SO_REUSEPORT...) makes
 *      it fail with EADDRINUSE.
 * Port 0 ("any free port") is never claimed: each bind gets its own port.
 * Callers: relayd/main.c (API listener and metrics listener). Never: keeps the probe bound (the
 * workers' SO_REUSEPORT binds would fail), binds the address for serving.
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
