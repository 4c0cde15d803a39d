/* clock.h - milliseconds on the monotonic clock: deadlines, TTLs and
 * pauses that a change of the wall clock must not stretch or cut. A leaf,
 * header only. (cache.c takes its clock as an option, for its tests.) */
#ifndef APISECFS_CLOCK_H
#define APISECFS_CLOCK_H

#include <time.h>

static inline long long clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

#endif
