/* check.h - a tiny assertion harness for the C unit tests.
 * CHECK records a failure and goes on; main returns check_report(). */
#ifndef CHECK_H
#define CHECK_H

#include <stdint.h>
#include <stdio.h>

static int check_failures, check_count;

#define CHECK(cond)                                                  \
	do {                                                         \
		check_count++;                                       \
		if (!(cond)) {                                       \
			check_failures++;                            \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", \
				__FILE__, __LINE__, #cond);          \
		}                                                    \
	} while (0)

/* A fixed pseudo-random sequence (xorshift64): the same every run. */
static inline uint64_t check_rnd(void)
{
	static uint64_t x = 88172645463325252ULL;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

static inline int check_report(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count,
	       check_failures);
	return check_failures ? 1 : 0;
}

#endif
