/* metrics.h - counters of what the mount did, rendered as the .stats file.
 *
 * Hot paths (every FUSE op, every HTTP attempt) only bump lock-free atomic
 * counters in fixed arrays: no lock, no allocation, no request. Every label
 * value comes from a fixed table (FUSE op names, API route templates, HTTP
 * statuses, errno names), never from the data or a credential, so the
 * number of series is bounded whatever the platform holds. The render is
 * Prometheus text exposition format 0.0.4, for node_exporter's textfile
 * collector and for people with cat.
 */
#ifndef APISECFS_METRICS_H
#define APISECFS_METRICS_H

#include <stddef.h>
#include <time.h>

#include "apisecfs/buf.h"

/* The FUSE lowlevel operations fs.c implements, one counter each. */
enum metrics_fuse_op {
	METRICS_OP_INIT,
	METRICS_OP_LOOKUP,
	METRICS_OP_FORGET,
	METRICS_OP_FORGET_MULTI,
	METRICS_OP_GETATTR,
	METRICS_OP_SETATTR,
	METRICS_OP_READLINK,
	METRICS_OP_OPENDIR,
	METRICS_OP_READDIR,
	METRICS_OP_READDIRPLUS,
	METRICS_OP_RELEASEDIR,
	METRICS_OP_OPEN,
	METRICS_OP_READ,
	METRICS_OP_WRITE,
	METRICS_OP_FLUSH,
	METRICS_OP_RELEASE,
	METRICS_OP_UNLINK,
	METRICS_OP_STATFS,
	METRICS_OP_COUNT
};

/* One FUSE request of kind op arrived. Thread-safe, lock-free. */
void metrics_fuse_op(enum metrics_fuse_op op);
/* The filesystem answered a request with error err (a positive errno;
 * 0 is success and is not counted). Thread-safe, lock-free. */
void metrics_fuse_error(int err);

/* One finished HTTP attempt (a retry is another attempt, as the platform
 * counts it): method, the request URL or path (only its template is kept),
 * the HTTP status (0: no response, a transport failure) and its duration.
 * Thread-safe, lock-free. */
void metrics_http_request(const char *method, const char *url, long status,
			  double seconds);
/* The last X-RateLimit-Remaining the platform sent. */
void metrics_set_ratelimit_remaining(long remaining);

/* The API path template a request URL or path belongs to, e.g.
 * "/v1/vulnerabilities/{vulnerabilityId}" for ".../v1/vulnerabilities/v1?x",
 * or "other". Static storage. */
const char *metrics_route(const char *url);

/* What other modules own, read by the caller at render time. */
struct metrics_gauges {
	unsigned long cache_hits, cache_misses, cache_revalidated;
	unsigned long cache_stale_served, cache_evictions;
	unsigned long cache_disk_reads;
	size_t cache_entries, cache_bytes, cache_max_bytes;
	unsigned long pages_parsed, pages_parse_shared;
	size_t parsed_bytes;
	time_t credential_expires; /* unix time; 0: unknown or never */
};

/* Append the exposition text of every metric to out. Returns 0, or -1 when
 * out's cap or memory runs out. Makes no request and takes no lock. */
int metrics_render(const struct metrics_gauges *g, struct buf *out)
	__attribute__((warn_unused_result));

#endif
