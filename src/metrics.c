/* metrics.c - lock-free counters of FUSE ops, errors and HTTP requests, and
 * their render as Prometheus text exposition format (version 0.0.4).
 *
 * Owns fixed arrays of counters bumped with relaxed atomic adds, so the
 * hot paths take no lock and never allocate. Labels come only from the
 * tables below (op names, route templates, statuses, errno names): the
 * series are bounded and carry nothing from the data or the credential.
 * A leaf: calls only buf. The gauges other modules own (cache, credential)
 * are handed to metrics_render by its caller.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "apisecfs/metrics.h"

/* ---- tables ------------------------------------------------------- */

static const char *const op_names[METRICS_OP_COUNT] = {
	[METRICS_OP_INIT] = "init",
	[METRICS_OP_LOOKUP] = "lookup",
	[METRICS_OP_FORGET] = "forget",
	[METRICS_OP_FORGET_MULTI] = "forget_multi",
	[METRICS_OP_GETATTR] = "getattr",
	[METRICS_OP_SETATTR] = "setattr",
	[METRICS_OP_READLINK] = "readlink",
	[METRICS_OP_OPENDIR] = "opendir",
	[METRICS_OP_READDIR] = "readdir",
	[METRICS_OP_READDIRPLUS] = "readdirplus",
	[METRICS_OP_RELEASEDIR] = "releasedir",
	[METRICS_OP_OPEN] = "open",
	[METRICS_OP_READ] = "read",
	[METRICS_OP_WRITE] = "write",
	[METRICS_OP_FLUSH] = "flush",
	[METRICS_OP_RELEASE] = "release",
	[METRICS_OP_UNLINK] = "unlink",
	[METRICS_OP_STATFS] = "statfs",
};

/* The contract's paths (platform-api.md); "{...}" matches one segment.
 * A URL matches by its last segments, so a base URL with a path prefix
 * (a gateway's /apisec) still finds its route. */
static const char *const routes[] = {
	"/v1/me",
	"/v1/applications",
	"/v1/applications/{applicationId}",
	"/v1/applications/{applicationId}/instances/{instanceId}/endpoints",
	"/v1/applications/{applicationId}/instances/{instanceId}/spec",
	"/v1/applications/{applicationId}/instances/{instanceId}/scans",
	"/v1/scans",
	"/v1/scans/{scanId}",
	"/v1/scans/{scanId}/cancel",
	"/v1/scans/{scanId}/report",
	"/v1/vulnerabilities",
	"/v1/vulnerabilities/{vulnerabilityId}",
	"/v1/teams",
	"/v1/teams/{teamId}",
	"/v1/tokens",
	"/v1/tokens/{tokenId}",
	"/oauth2/token",
	"/auth/login",
};
#define NROUTES (sizeof(routes) / sizeof(*routes))
#define ROUTE_OTHER NROUTES /* an external OAuth token_url, say */

static const char *const methods[] = { "GET", "POST", "PUT", "PATCH",
				       "DELETE" };
#define NMETHODS (sizeof(methods) / sizeof(*methods))
#define METHOD_OTHER NMETHODS

/* Statuses that get their own label; any other is counted as its class
 * ("4xx"), and no answer at all as "error". */
static const short codes[] = { 200, 201, 202, 204, 206, 301, 302, 303,
			       304, 307, 308, 400, 401, 403, 404, 405,
			       406, 408, 409, 410, 411, 412, 413, 415,
			       416, 422, 429, 500, 501, 502, 503, 504 };
#define NCODES (sizeof(codes) / sizeof(*codes))
#define CODE_CLASS(s) (NCODES + (size_t)(s) / 100 - 1) /* 1xx..5xx */
#define CODE_ERROR (NCODES + 5)
#define NCODE_SLOTS (NCODES + 6)

/* Prometheus's default buckets: from a cache-warm local answer to a
 * platform at its timeout. */
static const double dur_le[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				 0.5,	1,    2.5,   5,	   10 };
#define NBUCKETS (sizeof(dur_le) / sizeof(*dur_le))

/* errno values below this are counted by name; the rest as "other". */
#define METRICS_ERRNO_MAX 256

/* ---- counters (atomics) ------------------------------------------- */

/* Every one below is read and written only with __atomic builtins
 * (bump, get): no lock. */

static unsigned long fuse_ops[METRICS_OP_COUNT];
static unsigned long fuse_errors[METRICS_ERRNO_MAX + 1];
static unsigned long http_count[NMETHODS + 1][NROUTES + 1][NCODE_SLOTS];
static unsigned long dur_count[NBUCKETS + 1]; /* per bucket, +Inf last */
static uint64_t dur_sum_us;
static long rl_remaining = -1; /* -1: not heard yet */

static void bump(unsigned long *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static unsigned long get(const unsigned long *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void metrics_fuse_op(enum metrics_fuse_op op)
{
	if ((unsigned)op < METRICS_OP_COUNT)
		bump(&fuse_ops[op]);
}

void metrics_fuse_error(int err)
{
	if (err > 0)
		bump(&fuse_errors[err < METRICS_ERRNO_MAX
					  ? err
					  : METRICS_ERRNO_MAX]);
}

void metrics_set_ratelimit_remaining(long remaining)
{
	if (remaining >= 0)
		__atomic_store_n(&rl_remaining, remaining, __ATOMIC_RELAXED);
}

/* ---- routes ------------------------------------------------------- */

/* Do the last segments of path[0..plen) match template t? */
static bool suffix_match(const char *path, size_t plen, const char *t)
{
	size_t pe = plen, te = strlen(t);
	while (te > 0) {
		size_t ts = te, ps = pe;
		while (ts > 0 && t[ts - 1] != '/')
			ts--;
		while (ps > 0 && path[ps - 1] != '/')
			ps--;
		size_t tl = te - ts, pl = pe - ps;
		if (pl == 0)
			return false; /* no segment left, or an empty one */
		bool any = tl > 1 && t[ts] == '{';
		if (!any && (tl != pl || memcmp(t + ts, path + ps, pl) != 0))
			return false;
		te = ts ? ts - 1 : 0;
		pe = ps ? ps - 1 : 0;
	}
	return true;
}

static size_t route_index(const char *url)
{
	const char *p = strstr(url, "://");
	if (p) {
		p = strchr(p + 3, '/');
		if (!p)
			return ROUTE_OTHER;
	} else {
		p = url;
	}
	size_t len = strcspn(p, "?#");
	for (size_t r = 0; r < NROUTES; r++)
		if (suffix_match(p, len, routes[r]))
			return r;
	return ROUTE_OTHER;
}

const char *metrics_route(const char *url)
{
	size_t r = route_index(url);
	return r < NROUTES ? routes[r] : "other";
}

static size_t method_index(const char *m)
{
	for (size_t i = 0; i < NMETHODS; i++)
		if (strcmp(m, methods[i]) == 0)
			return i;
	return METHOD_OTHER;
}

static size_t code_index(long status)
{
	for (size_t i = 0; i < NCODES; i++)
		if (codes[i] == status)
			return i;
	if (status >= 100 && status <= 599)
		return CODE_CLASS(status);
	return CODE_ERROR;
}

void metrics_http_request(const char *method, const char *url, long status,
			  double seconds)
{
	bump(&http_count[method_index(method)][route_index(url)]
			[code_index(status)]);
	size_t b = 0;
	while (b < NBUCKETS && seconds > dur_le[b])
		b++;
	bump(&dur_count[b]);
	uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6 + 0.5) : 0;
	__atomic_add_fetch(&dur_sum_us, us, __ATOMIC_RELAXED);
}

/* ---- render ------------------------------------------------------- */

/* Escapes of the text format: in HELP, \ and newline; in label values,
 * also the double quote. */
static int put_escaped(struct buf *out, const char *s, bool quote)
{
	for (; *s; s++) {
		const char *e = NULL;
		if (*s == '\\')
			e = "\\\\";
		else if (*s == '\n')
			e = "\\n";
		else if (quote && *s == '"')
			e = "\\\"";
		if (e ? buf_append(out, e, strlen(e)) : buf_append(out, s, 1))
			return -1;
	}
	return 0;
}

static int family(struct buf *out, const char *name, const char *type,
		  const char *help)
{
	if (buf_printf(out, "# HELP %s ", name) ||
	    put_escaped(out, help, false))
		return -1;
	return buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* name{k1="v1",...} value: labels is a NULL-terminated key, value list. */
static int sample(struct buf *out, const char *name, const char *const *labels,
		  const char *value)
{
	if (buf_append(out, name, strlen(name)))
		return -1;
	for (size_t i = 0; labels && labels[i]; i += 2) {
		if (buf_printf(out, "%s%s=\"", i ? "," : "{", labels[i]) ||
		    put_escaped(out, labels[i + 1], true) ||
		    buf_append(out, "\"", 1))
			return -1;
	}
	if (labels && labels[0] && buf_append(out, "}", 1))
		return -1;
	return buf_printf(out, " %s\n", value);
}

static int sample_ul(struct buf *out, const char *name,
		     const char *const *labels, unsigned long v)
{
	char num[32];
	snprintf(num, sizeof(num), "%lu", v);
	return sample(out, name, labels, num);
}

static int render_http(struct buf *out)
{
	static const char name[] = "apisecfs_http_requests_total";
	char code[8];
	int rc = family(out, name, "counter",
			"HTTP requests sent to the platform, each retry "
			"counted, by method, API route template and status "
			"(error: no answer).");
	for (size_t m = 0; !rc && m <= NMETHODS; m++)
		for (size_t r = 0; !rc && r <= NROUTES; r++)
			for (size_t c = 0; !rc && c < NCODE_SLOTS; c++) {
				unsigned long v = get(&http_count[m][r][c]);
				if (!v)
					continue;
				if (c < NCODES)
					snprintf(code, sizeof(code), "%d",
						 codes[c]);
				else if (c < CODE_ERROR)
					snprintf(code, sizeof(code), "%zuxx",
						 c - NCODES + 1);
				else
					snprintf(code, sizeof(code), "error");
				const char *l[] = {
					"method",
					m < NMETHODS ? methods[m] : "other",
					"route",
					r < NROUTES ? routes[r] : "other",
					"code",
					code,
					NULL
				};
				rc = sample_ul(out, name, l, v);
			}
	return rc;
}

#define DUR "apisecfs_http_request_duration_seconds"

static int render_duration(struct buf *out)
{
	char le[16], sum[32];
	unsigned long cum = 0;
	int rc = family(out, DUR, "histogram",
			"Time from sending an HTTP request to the end of its "
			"answer, each retry counted.");
	for (size_t b = 0; !rc && b <= NBUCKETS; b++) {
		cum += get(&dur_count[b]);
		if (b < NBUCKETS)
			snprintf(le, sizeof(le), "%g", dur_le[b]);
		else
			snprintf(le, sizeof(le), "+Inf");
		const char *l[] = { "le", le, NULL };
		rc = sample_ul(out, DUR "_bucket", l, cum);
	}
	uint64_t us = __atomic_load_n(&dur_sum_us, __ATOMIC_RELAXED);
	snprintf(sum, sizeof(sum), "%llu.%06llu",
		 (unsigned long long)(us / 1000000),
		 (unsigned long long)(us % 1000000));
	/* _count is the +Inf bucket as read, so the two always agree. */
	if (!rc)
		rc = sample(out, DUR "_sum", NULL, sum);
	if (!rc)
		rc = sample_ul(out, DUR "_count", NULL, cum);
	return rc;
}

static int render_fuse(struct buf *out)
{
	static const char ops[] = "apisecfs_fuse_requests_total";
	static const char errs[] = "apisecfs_errors_total";
	char name[32];
	int rc = family(out, ops, "counter",
			"FUSE requests the kernel sent, by operation.");
	/* Every op, zeros too: the set is fixed and the file's length then
	 * changes only when a count gains a digit. */
	for (size_t i = 0; !rc && i < METRICS_OP_COUNT; i++) {
		const char *l[] = { "op", op_names[i], NULL };
		rc = sample_ul(out, ops, l, get(&fuse_ops[i]));
	}
	if (!rc)
		rc = family(out, errs, "counter",
			    "FUSE requests answered with an error, by errno "
			    "name.");
	for (int e = 1; !rc && e <= METRICS_ERRNO_MAX; e++) {
		unsigned long v = get(&fuse_errors[e]);
		if (!v)
			continue;
		const char *n =
			e < METRICS_ERRNO_MAX ? strerrorname_np(e) : NULL;
		if (n)
			snprintf(name, sizeof(name), "%s", n);
		else if (e < METRICS_ERRNO_MAX)
			snprintf(name, sizeof(name), "errno_%d", e);
		else
			snprintf(name, sizeof(name), "other");
		const char *l[] = { "errno", name, NULL };
		rc = sample_ul(out, errs, l, v);
	}
	return rc;
}

/* A family of one unlabelled sample; no sample when known is false. */
static int single(struct buf *out, const char *name, const char *type,
		  const char *help, bool known, unsigned long long v)
{
	char num[32];
	snprintf(num, sizeof(num), "%llu", v);
	int rc = family(out, name, type, help);
	return rc || !known ? rc : sample(out, name, NULL, num);
}

static int render_gauges(const struct metrics_gauges *g, struct buf *out)
{
	long rl = __atomic_load_n(&rl_remaining, __ATOMIC_RELAXED);
	struct {
		const char *name, *type, *help;
		bool known;
		unsigned long long v;
	} rows[] = {
		{ "apisecfs_cache_hits_total", "counter",
		  "API GETs answered from the cache without a request.", true,
		  g->cache_hits },
		{ "apisecfs_cache_misses_total", "counter",
		  "API GETs the cache sent a request for (a revalidation "
		  "too).",
		  true, g->cache_misses },
		{ "apisecfs_cache_revalidations_total", "counter",
		  "Requests answered 304 Not Modified: cached bytes kept.",
		  true, g->cache_revalidated },
		{ "apisecfs_cache_stale_served_total", "counter",
		  "Expired entries served because the platform failed "
		  "(stale-if-error).",
		  true, g->cache_stale_served },
		{ "apisecfs_cache_evictions_total", "counter",
		  "Entries evicted to stay under the cap.", true,
		  g->cache_evictions },
		{ "apisecfs_cache_disk_reads_total", "counter",
		  "Evicted list pages read back from -o disk_cache instead "
		  "of the platform.",
		  true, g->cache_disk_reads },
		{ "apisecfs_cache_entries", "gauge",
		  "Entries in the API cache.", true, g->cache_entries },
		{ "apisecfs_cache_bytes", "gauge",
		  "Bytes the API cache holds.", true, g->cache_bytes },
		{ "apisecfs_cache_max_bytes", "gauge",
		  "Cap on the bytes the API cache holds (half of -o "
		  "cache_size).",
		  true, g->cache_max_bytes },
		{ "apisecfs_pages_parsed_total", "counter",
		  "List pages parsed: once per page version while the parsed "
		  "pages fit an eighth of -o cache_size.",
		  true, g->pages_parsed },
		{ "apisecfs_pages_parse_shared_total", "counter",
		  "Walks of a list page (a listing, a view, all.jsonl) that "
		  "read a page another walk had parsed.",
		  true, g->pages_parse_shared },
		{ "apisecfs_parsed_bytes", "gauge",
		  "Bytes the parsed pages kept for other walks take.", true,
		  g->parsed_bytes },
		{ "apisecfs_ratelimit_remaining", "gauge",
		  "Requests left in the platform's rate-limit window, as its "
		  "last answer said (X-RateLimit-Remaining).",
		  rl >= 0, rl >= 0 ? (unsigned long long)rl : 0 },
		{ "apisecfs_credential_expiry_timestamp_seconds", "gauge",
		  "When the credential expires, in seconds since the epoch "
		  "(no sample: unknown or never).",
		  g->credential_expires > 0,
		  g->credential_expires > 0
			  ? (unsigned long long)g->credential_expires
			  : 0 },
	};
	int rc = 0;
	for (size_t i = 0; !rc && i < sizeof(rows) / sizeof(*rows); i++)
		rc = single(out, rows[i].name, rows[i].type, rows[i].help,
			    rows[i].known, rows[i].v);
	return rc;
}

int metrics_render(const struct metrics_gauges *g, struct buf *out)
{
	int rc = render_http(out);
	if (!rc)
		rc = render_duration(out);
	if (!rc)
		rc = render_gauges(g, out);
	if (!rc)
		rc = render_fuse(out);
	return rc;
}
