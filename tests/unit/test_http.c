/* test_http.c - http.c's curl path against a canned HTTP server on
 * 127.0.0.1 that this test starts (a thread answering each request with
 * the next scripted response, then closing the connection): retries of a
 * 5xx and of a body cut short, 429s waited out by Retry-After (and
 * refused at once past the wait budget), X-RateLimit pacing, and the
 * cache's half-open circuit over a failing platform. The clock is fake
 * and clock_sleep_ms moves it (clock_set_advance), so every wait is
 * checked as virtual time, and the test sleeps not at all. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "apisecfs/cache.h"
#include "apisecfs/clock.h"
#include "apisecfs/errmap.h"
#include "apisecfs/http.h"
#include "check.h"

#define SCRIPT_MAX 16

/* The server: responses in order, then 500s. srv.lock protects all. */
static struct {
	pthread_mutex_t lock;
	const char *resp[SCRIPT_MAX];
	int n, next;
	int served;	 /* requests read since the script was set */
	char method[16]; /* of the last request */
	int fd;
	unsigned short port;
	pthread_t thread;
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

static long long now_ms = 1767225600000LL;

static long long fake_clock(void)
{
	return __atomic_load_n(&now_ms, __ATOMIC_RELAXED);
}

static void fake_advance(long long ms)
{
	__atomic_add_fetch(&now_ms, ms, __ATOMIC_RELAXED);
}

static void script(int n, ...)
{
	va_list ap;
	va_start(ap, n);
	pthread_mutex_lock(&srv.lock);
	for (int i = 0; i < n && i < SCRIPT_MAX; i++)
		srv.resp[i] = va_arg(ap, const char *);
	srv.n = n;
	srv.next = srv.served = 0;
	pthread_mutex_unlock(&srv.lock);
	va_end(ap);
}

static int served(void)
{
	pthread_mutex_lock(&srv.lock);
	int n = srv.served;
	pthread_mutex_unlock(&srv.lock);
	return n;
}

/* Read one request: headers, then Content-Length bytes of body. */
static bool read_request(int fd, char *method, size_t msz)
{
	char b[8192];
	size_t len = 0;
	char *end = NULL;
	while (!end) {
		if (len + 1 >= sizeof(b))
			return false;
		ssize_t r = read(fd, b + len, sizeof(b) - 1 - len);
		if (r <= 0)
			return false;
		len += (size_t)r;
		b[len] = '\0';
		end = strstr(b, "\r\n\r\n");
	}
	size_t want = 0;
	const char *cl = strcasestr(b, "\r\nContent-Length:");
	if (cl && cl < end)
		want = strtoul(cl + 17, NULL, 10);
	size_t have = len - (size_t)(end + 4 - b);
	while (have < want) {
		ssize_t r = read(fd, b, sizeof(b));
		if (r <= 0)
			return false;
		have += (size_t)r;
	}
	snprintf(method, msz, "%.*s", (int)strcspn(b, " "), b);
	return true;
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(srv.fd, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL; /* shut down */
		}
		char method[16];
		if (read_request(c, method, sizeof(method))) {
			pthread_mutex_lock(&srv.lock);
			const char *r = srv.next < srv.n
						? srv.resp[srv.next++]
						: "HTTP/1.1 500 Internal "
						  "Server Error\r\n"
						  "Content-Length: 0\r\n\r\n";
			srv.served++;
			snprintf(srv.method, sizeof(srv.method), "%s", method);
			pthread_mutex_unlock(&srv.lock);
			for (size_t off = 0, n = strlen(r); off < n;) {
				ssize_t w = write(c, r + off, n - off);
				if (w <= 0)
					break;
				off += (size_t)w;
			}
		}
		close(c);
	}
}

static int server_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(srv.fd, 16) ||
	    getsockname(srv.fd, (struct sockaddr *)&a, &al))
		return -1;
	srv.port = ntohs(a.sin_port);
	return pthread_create(&srv.thread, NULL, serve, NULL) ? -1 : 0;
}

static void server_stop(void)
{
	shutdown(srv.fd, SHUT_RDWR); /* accept returns */
	pthread_join(srv.thread, NULL);
	close(srv.fd);
}

/* Every response closes its connection: one request, one accept. */
#define OK_BODY "{\"ok\":true}"
#define R200                                                          \
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"       \
	"ETag: \"v1\"\r\nX-Request-Id: rq-1\r\nConnection: close\r\n" \
	"Content-Length: 11\r\n\r\n" OK_BODY
#define R503                                                           \
	"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"    \
	"Content-Type: application/json\r\nContent-Length: 44\r\n\r\n" \
	"{\"code\":\"unavailable\",\"message\":\"try later\"}"
#define R429(after)                                                    \
	"HTTP/1.1 429 Too Many Requests\r\nRetry-After: " after "\r\n" \
	"Connection: close\r\nContent-Length: 0\r\n\r\n"
#define R429_BARE                                                 \
	"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\n" \
	"Content-Length: 0\r\n\r\n"
/* Says 100 bytes, sends 5 and closes: a body cut short. */
#define RCUT                                                          \
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100" \
	"\r\n\r\n{\"ok\""
#define RPACE(remaining, reset)                                       \
	"HTTP/1.1 200 OK\r\nX-RateLimit-Remaining: " remaining "\r\n" \
	"X-RateLimit-Reset: " reset "\r\nConnection: close\r\n"       \
	"Content-Length: 11\r\n\r\n" OK_BODY

static char url[64];

/* One http_do; *waited is the virtual time it took. */
static enum api_err req(const char *method, bool retryable,
			struct http_resp *rs, long long *waited)
{
	struct http_req rq = { .method = method,
			       .url = url,
			       .retryable = retryable,
			       .quiet = true };
	long long t0 = clock_ms();
	enum api_err e = http_do(&rq, rs);
	*waited = clock_ms() - t0;
	return e;
}

/* The cache's fetch, as api.c's: a probe (once) is one try. */
static enum api_err fetch(const char *key, const char *etag, bool once,
			  struct http_resp *rs)
{
	char u[128];
	snprintf(u, sizeof(u), "http://127.0.0.1:%u%s", srv.port, key);
	struct http_req rq = { .method = "GET",
			       .url = u,
			       .if_none_match = etag,
			       .retryable = !once,
			       .quiet = true };
	return http_do(&rq, rs);
}

static void test_circuit(void)
{
	struct cache_opts co = { .ttl_ms = 1000,
				 .max_bytes = 1 << 20,
				 .fetch = fetch };
	struct cache_doc d;
	struct api_status st;
	CHECK(cache_init(&co) == 0);

	/* /b cached, then expired; the platform starts failing. */
	script(1, R200);
	CHECK(cache_get("/b", &d, &st) == API_OK && served() == 1);
	cache_doc_release(&d);
	fake_advance(2000);
	script(0);
	CHECK(cache_get("/a", &d, &st) == API_E_SERVER);
	CHECK(served() == 3); /* retried: not a probe yet */

	/* Known down for 5 s: the expired /b is served stale without a
	 * request, an uncached read probes with one try. */
	CHECK(cache_get("/b", &d, &st) == API_OK && served() == 3);
	CHECK(d.body->len == strlen(OK_BODY));
	cache_doc_release(&d);
	CHECK(cache_get("/a", &d, &st) == API_E_SERVER && served() == 4);

	/* The probe finds the platform back: everything fresh again. */
	script(2, R200, R200);
	CHECK(cache_get("/a", &d, &st) == API_OK && served() == 1);
	cache_doc_release(&d);
	CHECK(cache_get("/b", &d, &st) == API_OK && served() == 2);
	cache_doc_release(&d);
	cache_cleanup();
}

int main(void)
{
	struct http_opts ho = { .timeout_ms = 30000,
				.connect_timeout_ms = 5000,
				.retries = 2,
				.pool_size = 4,
				.ratelimit_wait_ms = 10000 };
	struct http_resp rs;
	struct http_counters c0, c1;
	long long waited;

	clock_set_source(fake_clock);
	clock_set_advance(fake_advance);
	CHECK(server_start() == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/x", srv.port);
	CHECK(http_global_init() == 0 && http_init(&ho) == 0);

	/* A plain answer: status, body and the headers kept. */
	script(1, R200);
	CHECK(req("GET", true, &rs, &waited) == API_OK);
	CHECK(rs.status == 200 && rs.attempts == 1 && waited == 0);
	CHECK(rs.body.len == strlen(OK_BODY) &&
	      memcmp(rs.body.data, OK_BODY, rs.body.len) == 0);
	CHECK(strcmp(rs.etag, "\"v1\"") == 0);
	CHECK(strcmp(rs.content_type, "application/json") == 0);
	CHECK(strcmp(rs.st.request_id, "rq-1") == 0);
	http_resp_free(&rs);

	/* 5xx: retried with backoff (200 ms doubling, half of it jitter). */
	http_get_counters(&c0);
	script(3, R503, R503, R200);
	CHECK(req("GET", true, &rs, &waited) == API_OK);
	CHECK(rs.attempts == 3 && served() == 3);
	CHECK(waited >= 100 + 200 && waited <= 200 + 400);
	http_get_counters(&c1);
	CHECK(c1.retries - c0.retries == 2 && c1.failures == c0.failures);
	http_resp_free(&rs);

	/* Retries spent: the last 5xx, its error body, EIO. */
	script(3, R503, R503, R503);
	CHECK(req("GET", true, &rs, &waited) == API_E_SERVER);
	CHECK(rs.attempts == 3 && served() == 3 && rs.status == 503);
	CHECK(strcmp(rs.st.code, "unavailable") == 0);
	CHECK(strcmp(rs.st.message, "try later") == 0);
	CHECK(errmap_to_errno(API_E_SERVER, &rs.st) == EIO);
	http_get_counters(&c0);
	CHECK(c0.failures == c1.failures + 1);
	http_resp_free(&rs);

	/* Not retryable (a POST without an Idempotency-Key): one try. */
	script(2, R503, R200);
	CHECK(req("POST", false, &rs, &waited) == API_E_SERVER);
	CHECK(rs.attempts == 1 && served() == 1 && waited == 0);
	http_resp_free(&rs);

	/* A body cut short is a transport failure, retried. */
	script(2, RCUT, R200);
	CHECK(req("GET", true, &rs, &waited) == API_OK);
	CHECK(rs.attempts == 2 && served() == 2 && waited >= 100);
	CHECK(rs.body.len == strlen(OK_BODY));
	http_resp_free(&rs);
	script(3, RCUT, RCUT, RCUT);
	CHECK(req("GET", true, &rs, &waited) == API_E_TRANSPORT);
	CHECK(rs.attempts == 3 && served() == 3);
	CHECK(errmap_to_errno(API_E_TRANSPORT, &rs.st) == EIO);
	http_resp_free(&rs);

	/* 429: waited out by exactly its Retry-After, not counted against
	 * the retries (even a POST is sent again: nothing was done). */
	script(3, R429("3"), R429("4"), R200);
	CHECK(req("POST", false, &rs, &waited) == API_OK);
	CHECK(rs.attempts == 3 && served() == 3 && waited == 7000);
	http_resp_free(&rs);
	/* No Retry-After: the backoff of the n-th 429 in a row. */
	script(2, R429_BARE, R200);
	CHECK(req("GET", true, &rs, &waited) == API_OK);
	CHECK(rs.attempts == 2 && waited >= 100 && waited <= 200);
	http_resp_free(&rs);
	/* Past the 10 s budget: refused at once, EAGAIN, no wait. */
	script(2, R429("30"), R200);
	CHECK(req("GET", true, &rs, &waited) == API_E_RATE_LIMITED);
	CHECK(rs.attempts == 1 && served() == 1 && waited == 0);
	CHECK(rs.retry_after == 30);
	CHECK(errmap_to_errno(API_E_RATE_LIMITED, &rs.st) == EAGAIN);
	http_resp_free(&rs);
	/* The budget counts the waits already made: 6 s + 6 s > 10 s. */
	script(3, R429("6"), R429("6"), R200);
	CHECK(req("GET", true, &rs, &waited) == API_E_RATE_LIMITED);
	CHECK(rs.attempts == 2 && served() == 2 && waited == 6000);
	http_resp_free(&rs);

	/* X-RateLimit: 1 request left of a window ending in 10 s, with 4
	 * handles: the rest of the window is spread over what is left. */
	script(4, RPACE("1", "10"), R200, R200, R200);
	CHECK(req("GET", true, &rs, &waited) == API_OK && waited == 0);
	http_resp_free(&rs);
	CHECK(req("GET", true, &rs, &waited) == API_OK && waited == 5000);
	http_resp_free(&rs);
	CHECK(req("GET", true, &rs, &waited) == API_OK && waited == 5000);
	http_resp_free(&rs);
	/* A new window: no pacing. */
	CHECK(req("GET", true, &rs, &waited) == API_OK && waited == 0);
	CHECK(served() == 4);
	http_resp_free(&rs);

	test_circuit();

	http_cleanup();
	http_global_cleanup();
	server_stop();
	return check_report("test_http");
}
