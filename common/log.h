/*
 * log: the daemon's own diagnostic log (not the request log, which goes to the database).
 * One logfmt line per message on stderr: `ts=... level=info msg="..." key=value ...`.
 * Under systemd ($JOURNAL_STREAM set) the timestamp is left to journald and a <N> priority
 * prefix is written instead.
 * Callers: relayd (all threads; a line is written with one write() so lines never interleave).
 * Never: prints a secret (keys, upstream credentials).
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

enum log_level { LOG_ERR = 3, LOG_WARN = 4, LOG_INFO = 6, LOG_DEBUG = 7 };

void log_init(enum log_level min_level);
/* fmt produces the text after msg=: pass key=value pairs in it freely, e.g.
 * log_msg(LOG_INFO, "listening", "addr=%s", addr). */
void log_msg(enum log_level lvl, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
