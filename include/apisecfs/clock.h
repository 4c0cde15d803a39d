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
 * Not through the seam, on purpose: sleeps and timed waits (nanosleep,
 * condition waits on CLOCK_REALTIME) wait real time; the latency metrics
 * measure real time; the mtimes files show are stamped with time(), and
 * export.c compares time() with mtimes on disk, which a fake cannot move.
 * No TTL or renewal rule reads those. A leaf.
 */
#ifndef APISECFS_CLOCK_H
#define APISECFS_CLOCK_H

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

#endif
