/* junit.h - a scan's findings as JUnit XML, the test report Jenkins and
 * GitLab render natively (scans/ID/report.junit.xml).
 *
 * One <testcase> per finding; it fails when the finding is ACTIVE and its
 * severity is at least the mount's threshold (-o junit_fail, default
 * high). Foreign text (titles, descriptions, paths) is escaped so the
 * document stays well-formed XML 1.0 whatever it holds: markup characters
 * become entities, characters XML 1.0 forbids (most C0 controls, U+FFFE,
 * U+FFFF) and bytes that are not valid UTF-8 become U+FFFD. A leaf: pure
 * functions over buf and cJSON, no state but the threshold.
 */
#ifndef APISECFS_JUNIT_H
#define APISECFS_JUNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "apisecfs/buf.h"

/* Severity ranks, least to most severe. */
enum junit_sev {
	JUNIT_INFO,
	JUNIT_LOW,
	JUNIT_MEDIUM,
	JUNIT_HIGH,
	JUNIT_CRITICAL,
};

/* The rank of a severity word, or -1 if it is not one. */
int junit_severity(const char *word);
/* Set the mount's failure threshold from a severity word: 0 or -EINVAL. */
int junit_set_fail(const char *word) __attribute__((warn_unused_result));
/* The threshold in force (JUNIT_HIGH unless set). */
enum junit_sev junit_fail_level(void);

/* Append n bytes of s to b as XML character data (attr: inside a quoted
 * attribute value, where tabs and line ends are written as references so
 * that they survive). Returns 0, or -1 when b's cap or memory runs out. */
int junit_escape(struct buf *b, const char *s, size_t n, bool attr)
	__attribute__((warn_unused_result));

/* A report being built: the testcases, then the head that counts them. */
struct junit {
	struct buf cases;
	size_t tests, failures;
	enum junit_sev fail_at;
	time_t mtime; /* newest finding's updatedAt */
};

/* cap bounds the testcases' bytes. */
void junit_init(struct junit *j, enum junit_sev fail_at, size_t cap);
/* Add one finding (an API vulnerability object). 0, or -1 when the cap
 * or memory runs out. */
int junit_add(struct junit *j, const cJSON *finding)
	__attribute__((warn_unused_result));
/* Write the whole document for scan scan_id to out. 0 or -1 (as above). */
int junit_finish(struct junit *j, const char *scan_id, struct buf *out)
	__attribute__((warn_unused_result));
void junit_free(struct junit *j);

#endif
