/*
 * writer: the only thread that writes usage to the database. Workers hand it one log record per
 * relayed request (writer_submit copies it under a short lock and returns at once). With an empty
 * queue the writer sleeps without a timeout (an idle relayd does not wake it); the first record
 * wakes it (one signal per batch: at the first record into an empty queue and at the 2000th, never
 * per record), and 50 ms later, or sooner when 2000 records wait, it commits what queued in one
 * transaction: the log rows, and the
 * quota moved from tokens and users, summed per id. After each commit it moves the balances'
 * db_base by the committed charges (under balance_lock, see snapshot.h), so a reload folds
 * database changes in without counting a charge twice.
 * A failed commit keeps the batch and tries again (a timed wait: 50 ms doubling to 800 ms) while workers keep
 * queueing; records are never dropped. Before retrying a batch whose commit failed it checks whether
 * the commit went through after all (the connection can drop after COMMIT was sent), so nothing is
 * written twice. The queue is bounded for admission: when the backlog reaches buffer_max
 * (writer_buffer_max, default 100000 records of ~2 KB; a request queues up to two: its reservation
 * and its log row), writer_full() turns true and relay (front.c) answers
 * new requests 503 until it drains; requests already admitted are still queued and billed.
 * On PostgreSQL: log rows go in multi-row INSERTs, quota updates run in id order (no deadlock between
 * nodes), and the commit carries a NOTIFY relay_balance naming the users and tokens it charged, so
 * the other nodes fold them (dbnotify.c).
 * With access_log on, the writer also prints one log line per record (msg="request"), from its own
 * thread, when it takes the records: the workers pay nothing for it.
 * Reservations: a worker also submits a record (reservation = true) when a request reserves
 * quota; the writer stores it in the reservations table unless the same batch settles that
 * request, and the batch that settles it deletes it (as does a release record: reservation and
 * release = true, a reservation that ends unbilled with no row), so a crash leaves exactly the reservations
 * that were open (up to one batch late), and writer_resolve_unsettled() resolves them at the next
 * start. Nothing is written synchronously on a worker's path.
 * The transaction itself (its SQL) is commit.c's; this module owns the queue, the thread, the
 * access log lines and the node's identity.
 * Callers: relay's stages (submit, full), main.c (start, stop), admin.c (stats), dbnotify.c (node id).
 * Never: blocks a worker on the database.
 */
#ifndef RELAY_WRITER_H
#define RELAY_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codes.h"
#include "logrec.h"
#include "snapshot.h"

struct db;

/* Log types (LOGT_*, LOGT_ACCESS only an access log line) are common/codes.h's; the record and
 * the state change it queues are logrec.h's. */

struct writer_stats {
  uint64_t backlog;           /* records waiting */
  uint64_t rows_total;        /* records committed since start */
  uint64_t commits;
  uint64_t errors;            /* failed commits */
  uint64_t last_commit_us;    /* how long the last commit took */
  uint64_t buffer_max;        /* writer_buffer_max */
};

/* Before writer_start: the backlog at which writer_full() turns true. */
void writer_set_buffer_max(size_t n);

int writer_start(const char *db_url, char *err, size_t errlen);
/* access_log: one log line per record taken from the queue, formatted on the writer thread (never
 * on a worker), whatever the commit does. Set at start and on reload. */
void writer_set_access_log(bool on);
bool writer_access_log(void);
/* Names this relayd in the reservations it stores (host/listen), so a restart resolves only its
 * own. Call before workers start. */
void writer_set_node(const char *node);
/* At start-up, before workers run: reservations that this node left open (it stopped without
 * settling them: a crash or kill -9) are refunded (charge false: nothing is charged) or charged
 * in full (charge true), each with a log row (end_reason restart_refund / restart_charge) and a
 * log line. Returns how many, or -1 with err. db is the caller's connection. */
int writer_resolve_unsettled(struct db *db, bool charge, char *err, size_t errlen);
/* The backlog has reached buffer_max (the database is unreachable or slow): refuse new requests. */
bool writer_full(void);
/* This process's random id, the first word of its relay_balance notifications. */
uint64_t writer_node_id(void);
/* Queues a state change (copied). */
void writer_submit_op(const struct writer_op *op);
/* fn runs on the writer thread after a commit that changed a channel's status (admin.c: reload). */
void writer_set_reload_hook(void (*fn)(void));
void writer_submit(const struct log_record *rec);
/* Commits everything still queued, then stops the thread. */
void writer_stop(void);
void writer_get_stats(struct writer_stats *out);

#endif
