/* check.h - a tiny assertion harness for the C unit tests.
 * CHECK records a failure and goes on; main returns check_report(). */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>

static int check_failures, check_count;

#define CHECK(cond)                                                     \
	do {                                                            \
		check_count++;                                          \
		if (!(cond)) {                                          \
			check_failures++;                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",    \
				__FILE__, __LINE__, #cond);             \
		}                                                       \
	} while (0)

static inline int check_report(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count,
	       check_failures);
	return check_failures ? 1 : 0;
}

#endif
