/* http.h - the only door to the network: pooled libcurl handles, deadlines,
 * bounded retries with backoff, Retry-After and rate-limit pacing.
 *
 * Handles are lent from a bounded pool, one thread at a time, and keep their
 * connections alive between requests (HTTP/2 over TLS when the server offers
 * it). No header value, request body or response body is ever logged here:
 * Authorization values and auth-call bodies are secrets.
 */
#ifndef APISECFS_HTTP_H
#define APISECFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "apisecfs/buf.h"
#include "apisecfs/errmap.h"

struct http_opts {
	long timeout_ms;	 /* whole-request deadline, per attempt */
	long connect_timeout_ms; /* TCP+TLS connect deadline */
	const char *ca_file;	 /* NULL: system store */
	bool insecure;		 /* skip TLS verification (logged) */
	int retries;		 /* extra attempts for retryable requests */
	int pool_size;		 /* max concurrent requests */
	/* 429s are waited out (Retry-After) for at most this long per
	 * operation, and do not count against retries: the platform did
	 * nothing, so even a POST may be sent again. */
	long ratelimit_wait_ms;
};

/* Response bodies larger than this are refused (hostile server). */
#define HTTP_MAX_BODY (64u << 20)
/* Room for an ETag and a Content-Type header value, NUL included (the
 * response, the cache and the export's page store keep them this size);
 * a longer value is cut short. */
#define HTTP_ETAG_MAX 160
#define HTTP_CONTENT_TYPE_MAX 96

struct http_req {
	const char *method; /* "GET", "POST", "PATCH", "PUT", "DELETE" */
	const char *url;    /* absolute */
	const char *authorization;   /* header value, secret; may be NULL */
	const char *if_none_match;   /* ETag or NULL */
	const char *idempotency_key; /* POST only; enables retries */
	const char *content_type;    /* of body */
	const char *body;
	size_t body_len;
	bool retryable; /* GETs, DELETE, and POSTs with an idempotency key */
	bool quiet;	/* failure is expected (preflight): log at debug */
};

struct http_resp {
	long status;
	struct buf body;
	char etag[HTTP_ETAG_MAX];
	char content_type[HTTP_CONTENT_TYPE_MAX];
	long retry_after; /* seconds, -1 if absent */
	time_t date;	  /* the platform's clock (Date header), 0 if absent */
	long attempts;
	long elapsed_ms;
	struct api_status st;
};

/* Once, before any thread starts. Returns 0 or -1. */
int http_global_init(void);
void http_global_cleanup(void);
/* libcurl's version line, for --version. */
const char *http_version_string(void);

/* Configure and create the handle pool. main.c calls it, and makes the
 * preflight's requests, before fuse_daemonize forks: that is safe because
 * no other thread runs yet (a fork keeps only the calling thread) and the
 * parent exits without another request, so the handles and any connection
 * they keep open are the child's alone. No handle may be used by two
 * processes. */
int http_init(const struct http_opts *opts)
	__attribute__((warn_unused_result));
void http_cleanup(void);

/* Perform rq with retries. rs must be freed with http_resp_free even on
 * error. A 304 is API_OK with status 304 and an empty body. Non-2xx/304 map
 * through errmap, with the API's {"code","message","requestId"} copied into
 * rs->st. Thread-safe; blocks at most about (retries + 1) * timeout plus
 * backoff, plus ratelimit_wait while the platform answers 429. */
enum api_err http_do(const struct http_req *rq, struct http_resp *rs)
	__attribute__((warn_unused_result));
void http_resp_free(struct http_resp *rs);

/* For unit tests of the modules above: fn answers each attempt in place
 * of the network, as a server would (rs's status, body, etag,
 * content_type, date, retry_after), returning API_OK, or a transport
 * error (API_E_TRANSPORT, API_E_TIMEOUT) for no answer. Retries, pacing
 * and the mapping of the status (errmap) stay http_do's. http_init must
 * still have run (the pool is the same). NULL: the network. */
typedef enum api_err (*http_transport_fn)(const struct http_req *rq,
					  struct http_resp *rs);
void http_set_transport(http_transport_fn fn);

/* Counters for tests and the stats file. */
struct http_counters {
	unsigned long requests, retries, failures;
};
void http_get_counters(struct http_counters *out);

#endif
