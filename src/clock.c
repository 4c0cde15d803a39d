/* clock.c - the settable source behind clock.h's two clocks. One pointer,
 * read with a relaxed atomic load: tests may move it while the prefetch
 * workers run, and the daemon never sets it. */
#include "apisecfs/clock.h"

clock_source_fn clock_source;

void clock_set_source(clock_source_fn fn)
{
	__atomic_store_n(&clock_source, fn, __ATOMIC_RELAXED);
}

time_t clock_wall(void)
{
	clock_source_fn fn = __atomic_load_n(&clock_source, __ATOMIC_RELAXED);
	return fn ? (time_t)(fn() / 1000) : time(NULL);
}
