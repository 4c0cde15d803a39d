/* clock.c - the settable source behind clock.h's two clocks, and the
 * sleeps and timed waits that a fake source turns into moves of its time.
 * Two pointers, read with relaxed atomic loads: tests may move them while
 * the prefetch workers run, and the daemon never sets them. */
#include <errno.h>
#include <sched.h>

#include "apisecfs/clock.h"

clock_source_fn clock_source;
static clock_advance_fn clock_advance;

void clock_set_source(clock_source_fn fn)
{
	__atomic_store_n(&clock_source, fn, __ATOMIC_RELAXED);
}

time_t clock_wall(void)
{
	clock_source_fn fn = __atomic_load_n(&clock_source, __ATOMIC_RELAXED);
	return fn ? (time_t)(fn() / 1000) : time(NULL);
}

void clock_set_advance(clock_advance_fn fn)
{
	__atomic_store_n(&clock_advance, fn, __ATOMIC_RELAXED);
}

/* The advance function if the clock is fake, else NULL. */
static clock_advance_fn advancer(void)
{
	if (!__atomic_load_n(&clock_source, __ATOMIC_RELAXED))
		return NULL;
	return __atomic_load_n(&clock_advance, __ATOMIC_RELAXED);
}

void clock_sleep_ms(long long ms)
{
	if (ms <= 0)
		return;
	clock_advance_fn adv = advancer();
	if (adv) {
		adv(ms);
		return;
	}
	struct timespec ts = { (time_t)(ms / 1000),
			       (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int clock_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
			 long long deadline_ms)
{
	long long d = deadline_ms - clock_ms();
	clock_advance_fn adv = advancer();
	if (adv) {
		if (d > 0)
			adv(d);
		/* What a real wait gives others: a turn at the lock. */
		pthread_mutex_unlock(m);
		sched_yield();
		pthread_mutex_lock(m);
		return ETIMEDOUT;
	}
	if (d < 0)
		d = 0;
	/* The condition variables use CLOCK_REALTIME (the default); the
	 * span comes from the monotonic clock. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(d / 1000);
	ts.tv_nsec += (long)(d % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_cond_timedwait(c, m, &ts);
}
