/*
 * bgthread: the lifecycle relayd's background threads share (balpoll, monitor, vertex, webhook,
 * selfsvc, lease, writer): start (pthread_create, the thread named before its body runs), kick (a flag
 * set under the lock, the condvar signalled), stop (stop set under the lock, signalled, joined)
 * and the wait between passes, which tests stop and the kick under the lock before it sleeps (a
 * kick before the thread waits is never lost).
 * The owner keeps one static struct bgthread (BGTHREAD_INIT) and may guard its own state with
 * t->lock (its queue, its figures); it reads t->stop under that lock.
 * Callers: balpoll.c, monitor.c, vertex.c, webhook.c, selfsvc.c; lease.c (its own wait: a
 * monotonic deadline) and writer.c (start and stop only: workers submit on the hot path and
 * signal after the unlock; its wait batches). Not worker.c (an epoll loop woken by an eventfd).
 * Never: decides what a
 * thread does or when it wakes on its own (each owner computes its deadline; an idle owner waits
 * with BGTHREAD_FOREVER and makes no wake-ups), or holds the lock over the owner's work.
 */
#ifndef RELAY_BGTHREAD_H
#define RELAY_BGTHREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct bgthread {
  pthread_mutex_t lock;        /* guards stop, kick, started and what the owner keeps beside them */
  pthread_cond_t wake;         /* kick and stop signal it */
  bool stop;                   /* bgthread_stop asked the thread to end */
  bool kick;                   /* bgthread_kick since the last bgthread_wait returned */
  bool started;                /* between a bgthread_start that worked and bgthread_stop */
  pthread_t thread;
  const char *name;            /* "relayd-..." or NULL: tests and bench read it (/proc/PID/task/TID/comm) */
  void *(*fn)(void *);
  void *arg;
};

#define BGTHREAD_INIT {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER}
#define BGTHREAD_FOREVER UINT64_MAX

/* Starts fn(arg) on a thread named name (at most 15 characters: the kernel's limit; NULL: it keeps
 * the process's name). Returns 0, or -1 when the thread cannot be created. */
int bgthread_start(struct bgthread *t, const char *name, void *(*fn)(void *), void *arg);

/* Wakes the thread for a pass now. _locked: the caller holds t->lock (it queued work under it). */
void bgthread_kick(struct bgthread *t);
void bgthread_kick_locked(struct bgthread *t);

/* Asks the thread to end, wakes it and joins it; nothing when it was not started. */
void bgthread_stop(struct bgthread *t);

/* Whether bgthread_stop has asked the thread to end (takes t->lock: for the thread's long passes,
 * between two probes). */
bool bgthread_stopping(struct bgthread *t);

/* Under t->lock, on the thread: sleeps on t->wake for at most wait_us (BGTHREAD_FOREVER: no
 * deadline) unless stop or a kick is already there; returns on stop, a kick or the deadline, and
 * takes the kick. Returns t->stop. */
bool bgthread_wait(struct bgthread *t, uint64_t wait_us);

#endif
