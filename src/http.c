/* http.c - pooled libcurl requests with deadlines, retries and pacing.
 *
 * The only file that includes curl.h. Owns: the handle pool (protected by
 * pool.lock), the rate-limit pacing state (protected by pace.lock), the
 * counters (atomics) and the unit tests' transport. Waits (backoff, 429,
 * pacing) are clock_sleep_ms: a fake clock moves on instead. Calls only buf, clock,
 * errmap, esc, json (to read error bodies), metrics (one call per attempt)
 * and log. Never logs a header value or a body.
 */
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "apisecfs/clock.h"
#include "apisecfs/esc.h"
#include "apisecfs/http.h"
#include "apisecfs/json.h"
#include "apisecfs/log.h"
#include "apisecfs/metrics.h"

/* Backoff between retries: base doubles per attempt, capped, plus jitter
 * so that many threads failing together do not retry in lockstep. */
#define HTTP_BACKOFF_BASE_MS 200
#define HTTP_BACKOFF_MAX_MS 4000

/* pool.lock and pace.lock are leaves: nothing is taken under them, and
 * neither is held across a transfer. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	CURL **free_handles;   /* protected by lock */
	int nfree;	       /* lock */
	int size;	       /* set once before threads start */
	struct http_opts opts; /* set once before threads start */
	char *ca_file;	       /* set once before threads start */
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER,
	   .cond = PTHREAD_COND_INITIALIZER };

/* Pacing from X-RateLimit-*: when the window is nearly spent, spread the
 * remaining requests over what is left of it instead of hitting 429. */
static struct {
	pthread_mutex_t lock;
	long remaining;	    /* lock; -1: unknown */
	long long reset_ms; /* lock: clock_ms() when the window ends */
} pace = { .lock = PTHREAD_MUTEX_INITIALIZER, .remaining = -1 };

static struct http_counters counters; /* atomic */

/* Tests answer in place of the network (http.h); NULL in the daemon. */
static http_transport_fn transport;

void http_set_transport(http_transport_fn fn)
{
	__atomic_store_n(&transport, fn, __ATOMIC_RELAXED);
}

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

const char *http_version_string(void)
{
	return curl_version();
}

int http_init(const struct http_opts *opts)
{
	pool.opts = *opts;
	if (pool.opts.pool_size < 1)
		pool.opts.pool_size = 1;
	pool.ca_file = opts->ca_file ? strdup(opts->ca_file) : NULL;
	pool.opts.ca_file = pool.ca_file;
	pool.free_handles =
		calloc((size_t)pool.opts.pool_size, sizeof(CURL *));
	if (!pool.free_handles)
		return -1;
	for (int i = 0; i < pool.opts.pool_size; i++) {
		CURL *h = curl_easy_init();
		if (!h)
			return -1;
		pool.free_handles[pool.nfree++] = h;
	}
	pool.size = pool.opts.pool_size;
	return 0;
}

void http_cleanup(void)
{
	pthread_mutex_lock(&pool.lock);
	for (int i = 0; i < pool.nfree; i++)
		curl_easy_cleanup(pool.free_handles[i]);
	pool.nfree = 0;
	free(pool.free_handles);
	pool.free_handles = NULL;
	free(pool.ca_file);
	pool.ca_file = NULL;
	pthread_mutex_unlock(&pool.lock);
}

static CURL *pool_take(void)
{
	pthread_mutex_lock(&pool.lock);
	while (pool.nfree == 0)
		pthread_cond_wait(&pool.cond, &pool.lock);
	CURL *h = pool.free_handles[--pool.nfree];
	pthread_mutex_unlock(&pool.lock);
	return h;
}

static void pool_give(CURL *h)
{
	pthread_mutex_lock(&pool.lock);
	pool.free_handles[pool.nfree++] = h;
	pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
}

void http_get_counters(struct http_counters *out)
{
	out->requests = __atomic_load_n(&counters.requests, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&counters.retries, __ATOMIC_RELAXED);
	out->failures = __atomic_load_n(&counters.failures, __ATOMIC_RELAXED);
}

void http_resp_free(struct http_resp *rs)
{
	buf_free(&rs->body, false);
}

/* ---- callbacks ---------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;
	size_t n = size * nmemb;
	return buf_append(b, ptr, n) ? 0 : n;
}

/* Keep a header or error field, trimmed and escaped (esc.h): these come
 * from the platform and reach the terminal before daemonizing, error text
 * and, as an ETag, a request header; none may carry a control character. */
static void copy_value(char *dst, size_t dstsz, const char *v, size_t len)
{
	while (len &&
	       (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
		len--;
	while (len && *v == ' ') {
		v++;
		len--;
	}
	esc_text(dst, dstsz, v, len, 0);
}

static bool header_is(const char *line, size_t len, const char *name,
		      const char **value, size_t *vlen)
{
	size_t n = strlen(name);
	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return false;
	*value = line + n + 1;
	*vlen = len - n - 1;
	return true;
}

static long header_long(const char *v, size_t vlen)
{
	char tmp[32];
	copy_value(tmp, sizeof(tmp), v, vlen);
	char *end;
	errno = 0;
	long x = strtol(tmp, &end, 10);
	return (errno || end == tmp || x < 0) ? -1 : x;
}

struct hdr_state {
	struct http_resp *rs;
	long rl_remaining;
	long rl_reset;
};

/* Only response headers we need are read; none are logged. */
static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
	struct hdr_state *hs = ud;
	struct http_resp *rs = hs->rs;
	size_t len = size * nitems;
	const char *v;
	size_t vl;

	if (header_is(line, len, "ETag", &v, &vl))
		copy_value(rs->etag, sizeof(rs->etag), v, vl);
	else if (header_is(line, len, "Content-Type", &v, &vl))
		copy_value(rs->content_type, sizeof(rs->content_type), v, vl);
	else if (header_is(line, len, "X-Request-Id", &v, &vl))
		copy_value(rs->st.request_id, sizeof(rs->st.request_id), v,
			   vl);
	else if (header_is(line, len, "Retry-After", &v, &vl))
		rs->retry_after = header_long(v, vl);
	else if (header_is(line, len, "Date", &v, &vl)) {
		char d[64];
		copy_value(d, sizeof(d), v, vl);
		time_t t = curl_getdate(d, NULL);
		rs->date = t > 0 ? t : 0;
	} else if (header_is(line, len, "X-RateLimit-Remaining", &v, &vl))
		hs->rl_remaining = header_long(v, vl);
	else if (header_is(line, len, "X-RateLimit-Reset", &v, &vl))
		hs->rl_reset = header_long(v, vl);
	return len;
}

/* ---- pacing ------------------------------------------------------- */

static void pace_note(long remaining, long reset_s)
{
	if (remaining < 0 || reset_s < 0)
		return;
	pthread_mutex_lock(&pace.lock);
	pace.remaining = remaining;
	pace.reset_ms = clock_ms() + reset_s * 1000LL;
	pthread_mutex_unlock(&pace.lock);
}

static void pace_wait(long budget_ms)
{
	long wait = 0;
	pthread_mutex_lock(&pace.lock);
	if (pace.remaining >= 0 && pace.remaining < pool.size) {
		long long left = pace.reset_ms - clock_ms();
		if (left <= 0)
			pace.remaining = -1; /* a new window began */
		else
			wait = (long)(left / (pace.remaining + 1));
		if (pace.remaining > 0)
			pace.remaining--;
	}
	pthread_mutex_unlock(&pace.lock);
	if (wait > budget_ms)
		wait = budget_ms;
	if (wait > 0)
		log_debug("rate limit nearly spent: pacing %ld ms", wait);
	clock_sleep_ms(wait);
}

/* ---- one attempt -------------------------------------------------- */

static void read_error_body(struct http_resp *rs)
{
	cJSON *err =
		json_parse(rs->body.data ? rs->body.data : "", rs->body.len);
	if (!err)
		return;
	const char *s;
	if ((s = json_str(err, "code")))
		copy_value(rs->st.code, sizeof(rs->st.code), s, strlen(s));
	if ((s = json_str(err, "message")))
		copy_value(rs->st.message, sizeof(rs->st.message), s,
			   strlen(s));
	if ((s = json_str(err, "requestId")))
		copy_value(rs->st.request_id, sizeof(rs->st.request_id), s,
			   strlen(s));
	cJSON_Delete(err);
}

static void setup(CURL *h, const struct http_req *rq, struct http_resp *rs,
		  struct hdr_state *hs, struct curl_slist *hdrs)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, pool.opts.timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 pool.opts.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
			 (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	if (pool.opts.insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (pool.opts.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, pool.opts.ca_file);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &rs->body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, hs);

	if (strcmp(rq->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(rq->method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
		if (rq->body || strcmp(rq->method, "POST") == 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS,
					 rq->body ? rq->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)rq->body_len);
		}
	}
}

static struct curl_slist *build_headers(const struct http_req *rq)
{
	struct curl_slist *l = NULL, *t;
	char line[2048];
#define ADD(...)                                           \
	do {                                               \
		snprintf(line, sizeof(line), __VA_ARGS__); \
		t = curl_slist_append(l, line);            \
		if (!t)                                    \
			goto fail;                         \
		l = t;                                     \
	} while (0)
	ADD("Accept: application/json");
	ADD("Expect:");
	ADD("User-Agent: apisecfs/%s", APISECFS_VERSION);
	if (rq->authorization)
		ADD("Authorization: %s", rq->authorization);
	if (rq->if_none_match && *rq->if_none_match)
		ADD("If-None-Match: %s", rq->if_none_match);
	if (rq->idempotency_key)
		ADD("Idempotency-Key: %s", rq->idempotency_key);
	if (rq->content_type)
		ADD("Content-Type: %s", rq->content_type);
#undef ADD
	explicit_bzero(line, sizeof(line));
	return l;
fail:
	explicit_bzero(line, sizeof(line));
	curl_slist_free_all(l);
	return NULL;
}

static void wipe_slist(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* An answer came: its status says how it went. */
static enum api_err answered(struct http_resp *rs)
{
	rs->st.http = rs->status;
	if ((rs->status >= 200 && rs->status < 300) || rs->status == 304)
		return API_OK;
	read_error_body(rs);
	return errmap_from_http(rs->status);
}

static enum api_err attempt(CURL *h, const struct http_req *rq,
			    struct http_resp *rs, struct curl_slist *hdrs)
{
	struct hdr_state hs = { rs, -1, -1 };
	buf_free(&rs->body, false);
	buf_init(&rs->body, HTTP_MAX_BODY);
	rs->status = 0;
	rs->etag[0] = rs->content_type[0] = '\0';
	rs->retry_after = -1;
	rs->date = 0;
	memset(&rs->st, 0, sizeof(rs->st));

	__atomic_add_fetch(&counters.requests, 1, __ATOMIC_RELAXED);
	http_transport_fn fake = __atomic_load_n(&transport, __ATOMIC_RELAXED);
	if (fake) {
		enum api_err result = fake(rq, rs);
		return result ? result : answered(rs);
	}
	setup(h, rq, rs, &hs, hdrs);
	struct timespec t0, t1; /* real time: a latency metric, no rule */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CURLcode cc = curl_easy_perform(h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
	rs->st.http = rs->status;
	pace_note(hs.rl_remaining, hs.rl_reset);
	metrics_set_ratelimit_remaining(hs.rl_remaining);
	/* Per attempt, as the platform counts requests. A transport failure
	 * (no answer, or one cut short) is "error" whatever status came. */
	metrics_http_request(rq->method, rq->url,
			     cc == CURLE_OK ? rs->status : 0,
			     (double)(t1.tv_sec - t0.tv_sec) +
				     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	if (cc != CURLE_OK) {
		snprintf(rs->st.detail, sizeof(rs->st.detail), "%s",
			 curl_easy_strerror(cc));
		if (cc == CURLE_WRITE_ERROR)
			return API_E_TOO_BIG;
		if (cc == CURLE_OPERATION_TIMEDOUT)
			return API_E_TIMEOUT;
		if (cc == CURLE_PEER_FAILED_VERIFICATION ||
		    cc == CURLE_SSL_CACERT_BADFILE ||
		    cc == CURLE_SSL_CONNECT_ERROR ||
		    cc == CURLE_SSL_CERTPROBLEM)
			return API_E_TLS;
		return API_E_TRANSPORT;
	}
	return answered(rs);
}

static bool should_retry(enum api_err e)
{
	return e == API_E_TRANSPORT || e == API_E_TIMEOUT || e == API_E_SERVER;
}

static long backoff_ms(int attempt_no, const struct http_resp *rs)
{
	long b = HTTP_BACKOFF_BASE_MS << (attempt_no < 5 ? attempt_no : 5);
	if (b > HTTP_BACKOFF_MAX_MS)
		b = HTTP_BACKOFF_MAX_MS;
	unsigned seed = (unsigned)clock_ms() ^ (unsigned)(uintptr_t)rs;
	return b / 2 + (long)(rand_r(&seed) % (unsigned)(b / 2 + 1));
}

/* The path part of a URL, for log lines (no scheme/host). */
static const char *url_path(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	return p ? p : url;
}

/* How long to wait after a 429: its Retry-After, else (absent, 0 or an
 * HTTP date) the backoff of the n-th 429 in a row. */
static long rate_wait_ms(int n, const struct http_resp *rs)
{
	return rs->retry_after > 0 ? rs->retry_after * 1000L
				   : backoff_ms(n, rs);
}

enum api_err http_do(const struct http_req *rq, struct http_resp *rs)
{
	enum api_err result = API_E_NOMEM;
	long start = clock_ms();
	struct curl_slist *hdrs = build_headers(rq);
	int retries = rq->retryable ? pool.opts.retries : 0;
	int tries = 0, limited = 0;

	memset(rs, 0, sizeof(*rs));
	buf_init(&rs->body, HTTP_MAX_BODY);
	if (!hdrs)
		return API_E_NOMEM;

	CURL *h = pool_take();
	for (;;) {
		pace_wait(pool.opts.timeout_ms);
		rs->attempts++;
		result = attempt(h, rq, rs, hdrs);
		if (result == API_OK)
			break;
		long wait;
		if (result == API_E_RATE_LIMITED) {
			/* Not a failure: the platform did nothing and says
			 * when to come back. Wait, within the operation's
			 * deadline; a longer wait is EAGAIN at once. */
			wait = rate_wait_ms(limited++, rs);
			if (clock_ms() + wait - start >
			    pool.opts.ratelimit_wait_ms)
				break;
			log_msg(rq->quiet ? LOG_LVL_DEBUG : LOG_LVL_INFO,
				"%s %s: rate limited (HTTP 429), waiting %ld "
				"ms",
				rq->method, url_path(rq->url), wait);
		} else {
			if (!should_retry(result) || tries >= retries)
				break;
			wait = backoff_ms(tries++, rs);
			log_msg(rq->quiet ? LOG_LVL_DEBUG : LOG_LVL_INFO,
				"%s %s: %s (HTTP %ld%s%s), retry %d/%d in %ld "
				"ms",
				rq->method, url_path(rq->url),
				errmap_str(result), rs->status,
				rs->st.code[0] ? " " : "", rs->st.code, tries,
				retries, wait);
			__atomic_add_fetch(&counters.retries, 1,
					   __ATOMIC_RELAXED);
		}
		/* Nobody else's request waits for this one's pause. */
		pool_give(h);
		clock_sleep_ms(wait);
		h = pool_take();
	}
	pool_give(h);
	wipe_slist(hdrs);

	rs->elapsed_ms = clock_ms() - start;
	if (result != API_OK) {
		__atomic_add_fetch(&counters.failures, 1, __ATOMIC_RELAXED);
		log_msg(rq->quiet ? LOG_LVL_DEBUG : LOG_LVL_WARN,
			"%s %s failed: %s, status %ld%s%s%s%s%s%s, "
			"attempts %ld, %ld ms",
			rq->method, url_path(rq->url), errmap_str(result),
			rs->status, rs->st.code[0] ? ", code " : "",
			rs->st.code,
			rs->st.request_id[0] ? ", requestId " : "",
			rs->st.request_id, rs->st.detail[0] ? ", " : "",
			rs->st.detail, rs->attempts, rs->elapsed_ms);
	} else {
		log_debug("%s %s -> %ld (%zu bytes, %ld ms)", rq->method,
			  url_path(rq->url), rs->status, rs->body.len,
			  rs->elapsed_ms);
	}
	return result;
}
