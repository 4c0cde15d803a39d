/* clock.h - the engine's two clocks, behind one seam tests can set.
 *
 * clock_ms(): milliseconds on the monotonic clock. Every rule about a
 * span of time reads it: TTLs and expiries (sync.c, cache.c, the stash in
 * rowwalk.c), the rounds of changes and their marks (api.c), the cache's
 * outage pause and ghosts' revalidation, rate-limit pacing and the 429
 * budget (http.c), the pollers' intervals and deadlines (waitq.c,
 * events.c), token_cmd's timeout. A change of the wall clock must not
 * stretch or cut them. Cheap: the listing path calls it per node.
 *
 * clock_wall(): seconds since the epoch. Only for times compared with one
 * a credential or the platform states in calendar time: a bearer's expiry
 * (OAuth expires_in, a JWT's exp) and the early refresh before it
 * (auth.c, authmint.c). The platform's Date header is not read from here:
 * api.c and events.c advance the last Date by clock_ms().
 *
 * Sleeps and timed waits go through the seam too: clock_sleep_ms (http.c's
 * backoff, 429 and pacing waits) and clock_cond_timedwait (the pollers of
 * waitq.c and events.c) wait real time in the daemon; under a fake source
 * with an advance function they do not wait, they move the fake time on
 * by what they would have waited, so a test of a 30 s Retry-After or of a
 * poller's cadence runs in milliseconds.
 *
 * Not through the seam, on purpose: the latency metrics measure real time; the mtimes files show are stamped with time(), and
 * export.c compares time() with mtimes on disk, which a fake cannot move.
 * No TTL or renewal rule reads those. A leaf.
 */
#ifndef APISECFS_CLOCK_H
#define APISECFS_CLOCK_H

#include <pthread.h>
#include <time.h>

/* A fake time source for tests: milliseconds that only the test moves. */
typedef long long (*clock_source_fn)(void);

/* NULL: the real clocks. Otherwise both clocks read fn: its milliseconds
 * are the monotonic clock's and, taken as milliseconds since the epoch,
 * the wall clock's, so moving the fake moves both as real time does. */
void clock_set_source(clock_source_fn fn);

extern clock_source_fn clock_source; /* clock.c; set only through above */

static inline long long clock_ms(void)
{
	clock_source_fn fn = __atomic_load_n(&clock_source, __ATOMIC_RELAXED);
	if (__builtin_expect(fn != NULL, 0))
		return fn();
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

time_t clock_wall(void);

/* Moves a fake source on by ms (tests). */
typedef void (*clock_advance_fn)(long long ms);

/* With a fake source and fn set, sleeps and timed waits return at once
 * after calling fn with the time they would have waited. NULL (and always
 * with the real clocks): they wait real time. */
void clock_set_advance(clock_advance_fn fn);

/* Sleep ms milliseconds (nothing if ms <= 0); EINTR does not cut it. */
void clock_sleep_ms(long long ms);

/* pthread_cond_timedwait until clock_ms() reaches deadline_ms, with m
 * held. Returns 0 when woken (or spuriously), ETIMEDOUT past the
 * deadline. Under the fake, past the deadline at once: the fake time is
 * moved to it, and m is dropped for a moment so other threads run. */
int clock_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
			 long long deadline_ms);

#endif
