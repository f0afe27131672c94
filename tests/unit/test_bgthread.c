/* Unit test of relayd/bgthread.c, the lifecycle relayd's background threads share: the thread is
 * named before its body runs; a kick sent before the thread waits is not lost (the wait tests it
 * under the lock), even one sent before the thread started; a timed wait ends at its deadline; stop wakes a thread that waits with no
 * deadline, and joins it; stopping a thread never started does nothing. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../relayd/bgthread.h"
#include "tap.h"
#include "util.h"

static struct bgthread T = BGTHREAD_INIT;
static char name[32];
static atomic_int phase;          /* 1: body runs; 2: woken by the early kick; 3: timed wait over */
static atomic_bool timed_ok, stopped_ok, ended;
static atomic_bool kicked;        /* the test's kick has been sent */

static struct bgthread E = BGTHREAD_INIT;
static atomic_bool early_woke;

/* kicked before it started: its first wait takes that kick (vertex_load kicks before vertex_start) */
static void *early(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&E.lock);
  bool stop = bgthread_wait(&E, BGTHREAD_FOREVER);
  atomic_store(&early_woke, !stop);
  while (!bgthread_wait(&E, BGTHREAD_FOREVER)) {
  }
  pthread_mutex_unlock(&E.lock);
  return NULL;
}

static void *body(void *arg)
{
  (void)arg;
  pthread_getname_np(pthread_self(), name, sizeof name);
  atomic_store(&phase, 1);
  while (!atomic_load(&kicked))   /* the kick comes before this thread ever waits */
    usleep(1000);
  pthread_mutex_lock(&T.lock);
  bool stop = bgthread_wait(&T, BGTHREAD_FOREVER);
  atomic_store(&phase, 2);
  uint64_t t0 = now_us_mono();
  bool stop2 = bgthread_wait(&T, 50000);   /* the kick was taken: this one runs to its deadline */
  atomic_store(&timed_ok, !stop && !stop2 && now_us_mono() - t0 >= 45000);
  atomic_store(&phase, 3);
  atomic_store(&stopped_ok, bgthread_wait(&T, BGTHREAD_FOREVER));   /* until bgthread_stop */
  pthread_mutex_unlock(&T.lock);
  atomic_store(&ended, true);
  return NULL;
}

static bool reaches(int want)
{
  for (int i = 0; i < 5000 && atomic_load(&phase) < want; i++)
    usleep(1000);
  return atomic_load(&phase) >= want;
}

int main(void)
{
  struct bgthread never = BGTHREAD_INIT;
  bgthread_stop(&never);
  CHECK(!never.started && !never.stop, "stopping a thread never started does nothing");

  bgthread_kick(&E);
  CHECK(bgthread_start(&E, "relayd-early", early, NULL) == 0, "a thread kicked before its start starts");
  for (int i = 0; i < 5000 && !atomic_load(&early_woke); i++)
    usleep(1000);
  CHECK(atomic_load(&early_woke), "its first wait takes the kick made before the start");
  bgthread_stop(&E);

  CHECK(bgthread_start(&T, "relayd-test", body, NULL) == 0 && T.started, "the thread starts");
  CHECK(reaches(1) && strcmp(name, "relayd-test") == 0, "it is named before its body runs ('%s')", name);
  bgthread_kick(&T);
  atomic_store(&kicked, true);
  CHECK(reaches(2), "a kick sent before the thread waits wakes its wait (not lost)");
  CHECK(reaches(3) && atomic_load(&timed_ok), "the kick is taken once; a timed wait ends at its deadline");
  CHECK(!bgthread_stopping(&T), "not stopping before bgthread_stop");
  bgthread_stop(&T);
  CHECK(atomic_load(&ended) && atomic_load(&stopped_ok), "stop wakes a wait with no deadline, which says stop, and joins");
  CHECK(!T.started && bgthread_stopping(&T), "after stop: not started, stopping");
  return tap_done();
}
