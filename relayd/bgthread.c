/* bgthread: see bgthread.h. */
#include "bgthread.h"

#include <errno.h>
#include <time.h>

#include "util.h"

static void *trampoline(void *arg)
{
  struct bgthread *t = arg;
  if (t->name)
    pthread_setname_np(pthread_self(), t->name);
  return t->fn(t->arg);
}

int bgthread_start(struct bgthread *t, const char *name, void *(*fn)(void *), void *arg)
{
  pthread_mutex_lock(&t->lock);
  t->stop = false;   /* a kick made before the start stays: the thread's first wait takes it */
  t->name = name;
  t->fn = fn;
  t->arg = arg;
  int rc = pthread_create(&t->thread, NULL, trampoline, t);
  t->started = rc == 0;
  pthread_mutex_unlock(&t->lock);
  return rc == 0 ? 0 : -1;
}

void bgthread_kick_locked(struct bgthread *t)
{
  t->kick = true;
  pthread_cond_signal(&t->wake);
}

void bgthread_kick(struct bgthread *t)
{
  pthread_mutex_lock(&t->lock);
  bgthread_kick_locked(t);
  pthread_mutex_unlock(&t->lock);
}

void bgthread_stop(struct bgthread *t)
{
  pthread_mutex_lock(&t->lock);
  bool started = t->started;
  if (started) {
    t->stop = true;
    pthread_cond_signal(&t->wake);
  }
  pthread_mutex_unlock(&t->lock);
  if (!started)
    return;
  pthread_join(t->thread, NULL);
  pthread_mutex_lock(&t->lock);
  t->started = false;
  pthread_mutex_unlock(&t->lock);
}

bool bgthread_stopping(struct bgthread *t)
{
  pthread_mutex_lock(&t->lock);
  bool stop = t->stop;
  pthread_mutex_unlock(&t->lock);
  return stop;
}

bool bgthread_wait(struct bgthread *t, uint64_t wait_us)
{
  if (wait_us == BGTHREAD_FOREVER) {
    while (!t->stop && !t->kick)
      pthread_cond_wait(&t->wake, &t->lock);
  } else {
    struct timespec ts = realtime_in_us(wait_us);
    while (!t->stop && !t->kick && pthread_cond_timedwait(&t->wake, &t->lock, &ts) != ETIMEDOUT) {
    }
  }
  t->kick = false;
  return t->stop;
}
