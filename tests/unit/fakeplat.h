/* fakeplat.h - a canned platform for the unit tests above the HTTP layer
 * (api, stream, auth): http_set_transport answers each request from a
 * table of bodies by path, with a strong ETag and a 304 to a matching
 * If-None-Match (the contract), the Date of the fake clock, and a count
 * of what was asked. The fake clock (clock.h) starts at a plausible unix
 * time in milliseconds and moves only when a test moves it. No network,
 * no sleep: a test runs in milliseconds. Header only, like check.h. */
#ifndef FAKEPLAT_H
#define FAKEPLAT_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/buf.h"
#include "apisecfs/clock.h"
#include "apisecfs/http.h"
#include "check.h"

#define FAKE_BASE "http://platform.test"
#define FAKE_ROUTES 64

/* A test's own answer to a request, before the table: 1 if it answered
 * (rs filled), 0 to let the table answer. */
typedef int (*fake_hook_fn)(const struct http_req *rq, const char *path,
			    struct http_resp *rs);

static struct {
	pthread_mutex_t lock;
	struct {
		char *path; /* with its query; a trailing '*' matches a prefix */
		char *body;
		long status;
	} r[FAKE_ROUTES];
	size_t n;
	const char *bearer; /* expected Authorization, or NULL: anything */
	fake_hook_fn hook;
	/* Since fake_zero: requests, 200s, 304s, and the paths asked. */
	int asked, bodies, not_modified;
	char *log[256];
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* 2026-01-01T00:00:00Z: whole seconds, as the Date header has them. */
static long long fake_now_ms = 1767225600000LL;

static inline long long fake_clock(void)
{
	return __atomic_load_n(&fake_now_ms, __ATOMIC_RELAXED);
}

static inline void fake_advance(long long ms)
{
	__atomic_add_fetch(&fake_now_ms, ms, __ATOMIC_RELAXED);
}

/* Answer path (exact, or a prefix ending in '*') with status and body
 * from now on; NULL body: no longer answered (404). */
static inline void fake_route(const char *path, long status, const char *body)
{
	pthread_mutex_lock(&fake.lock);
	size_t i = 0;
	while (i < fake.n && strcmp(fake.r[i].path, path))
		i++;
	if (i == fake.n && fake.n < FAKE_ROUTES)
		fake.r[fake.n++].path = strdup(path);
	if (i < fake.n) {
		free(fake.r[i].body);
		fake.r[i].body = body ? strdup(body) : NULL;
		fake.r[i].status = status;
	}
	pthread_mutex_unlock(&fake.lock);
}

static inline void fake_set(const char *path, const char *body)
{
	fake_route(path, 200, body);
}

static inline void fake_zero(void)
{
	pthread_mutex_lock(&fake.lock);
	for (int i = 0; i < fake.asked && i < 256; i++)
		free(fake.log[i]);
	fake.asked = fake.bodies = fake.not_modified = 0;
	pthread_mutex_unlock(&fake.lock);
}

/* Does path match p (exact, or a prefix ending in '*')? */
static inline bool fake_match(const char *path, const char *p)
{
	size_t n = strlen(p);
	return n && p[n - 1] == '*' ? strncmp(path, p, n - 1) == 0
				    : strcmp(path, p) == 0;
}

static inline void fake_answer(struct http_resp *rs, long status,
			       const char *body)
{
	rs->status = status;
	rs->date = clock_wall();
	snprintf(rs->content_type, sizeof(rs->content_type),
		 "application/json");
	if (body)
		CHECK(buf_append(&rs->body, body, strlen(body)) == 0);
}

static inline enum api_err fake_transport(const struct http_req *rq,
					  struct http_resp *rs)
{
	const char *path = rq->url;
	if (strncmp(path, FAKE_BASE, strlen(FAKE_BASE)) == 0)
		path += strlen(FAKE_BASE);
	pthread_mutex_lock(&fake.lock);
	if (fake.asked < 256)
		fake.log[fake.asked] = strdup(path);
	fake.asked++;
	fake_hook_fn hook = fake.hook;
	pthread_mutex_unlock(&fake.lock);
	if (hook && hook(rq, path, rs))
		return API_OK;
	if (fake.bearer &&
	    (!rq->authorization || strcmp(rq->authorization, fake.bearer))) {
		fake_answer(rs, 401, "{\"code\":\"unauthorized\"}");
		return API_OK;
	}
	pthread_mutex_lock(&fake.lock);
	const char *body = NULL;
	long status = 404;
	for (size_t i = 0; i < fake.n && !body; i++) {
		if (fake_match(path, fake.r[i].path)) {
			body = fake.r[i].body;
			status = fake.r[i].status;
		}
	}
	if (!body) {
		status = 404;
		body = "{\"code\":\"not_found\",\"message\":\"no such path\"}";
	}
	/* A strong ETag from the bytes: the same bytes, the same ETag. */
	snprintf(rs->etag, sizeof(rs->etag), "\"%016llx\"",
		 (unsigned long long)buf_hash(body, strlen(body)));
	if (status == 200 && rq->if_none_match &&
	    strcmp(rq->if_none_match, rs->etag) == 0) {
		fake.not_modified++;
		fake_answer(rs, 304, NULL);
	} else {
		fake.bodies += status == 200;
		fake_answer(rs, status, body);
	}
	pthread_mutex_unlock(&fake.lock);
	return API_OK;
}

/* How many requests since fake_zero asked for p (as fake_match). */
static inline int fake_asked_for(const char *p)
{
	int n = 0;
	pthread_mutex_lock(&fake.lock);
	for (int i = 0; i < fake.asked && i < 256; i++)
		n += fake.log[i] && fake_match(fake.log[i], p);
	pthread_mutex_unlock(&fake.lock);
	return n;
}

/* ---- canned lists ----------------------------------------------- */

#define FAKE_PER_PAGE 3 /* the fake's page size: small lists span pages */

/* A list resource as the fake serves it: items "<id_field>":"<pfx><i>",
 * with a status each (default "Open"), FAKE_PER_PAGE a page, the pages
 * keyed as api.c asks for them (limit, then nextToken=p2, p3...). */
struct fake_list {
	const char *path, *id_field, *pfx;
	int n;
	const char *status[16];
};

static inline void fake_page_key(char *out, size_t outsz, const char *path,
				 int page)
{
	if (page == 0)
		snprintf(out, outsz, "%s?limit=%d", path, API_PAGE_LIMIT);
	else
		snprintf(out, outsz, "%s?limit=%d&nextToken=p%d", path,
			 API_PAGE_LIMIT, page + 1);
}

static inline void fake_item_json(struct buf *b, const struct fake_list *l,
				  int i)
{
	char s[256];
	snprintf(s, sizeof(s),
		 "%s{\"%s\":\"%s%d\",\"applicationId\":\"a1\","
		 "\"status\":\"%s\"}",
		 i % FAKE_PER_PAGE ? "," : "", l->id_field, l->pfx, i + 1,
		 l->status[i] ? l->status[i] : "Open");
	CHECK(buf_append(b, s, strlen(s)) == 0);
}

/* Serve l's pages as they are now. */
static inline void fake_publish(const struct fake_list *l)
{
	int pages = l->n ? (l->n + FAKE_PER_PAGE - 1) / FAKE_PER_PAGE : 1;
	for (int p = 0; p < pages; p++) {
		struct buf b;
		char key[256], tail[64];
		buf_init(&b, 1 << 20);
		CHECK(buf_append(&b, "{\"items\":[", 10) == 0);
		int end = (p + 1) * FAKE_PER_PAGE;
		for (int i = p * FAKE_PER_PAGE; i < l->n && i < end; i++)
			fake_item_json(&b, l, i);
		if (p + 1 < pages)
			snprintf(tail, sizeof(tail),
				 "],\"nextToken\":\"p%d\"}", p + 2);
		else
			snprintf(tail, sizeof(tail), "],\"nextToken\":null}");
		CHECK(buf_append(&b, tail, strlen(tail) + 1) == 0);
		fake_page_key(key, sizeof(key), l->path, p);
		fake_set(key, b.data);
		buf_free(&b, false);
	}
}

/* The HTTP layer answered by the table, the clock faked. No retries: a
 * failure the test asks for comes back at once. */
static inline int fake_start(void)
{
	struct http_opts ho = { .timeout_ms = 1000,
				.connect_timeout_ms = 1000,
				.retries = 0,
				.pool_size = 4 };
	clock_set_source(fake_clock);
	clock_set_advance(fake_advance);
	http_set_transport(fake_transport);
	return http_global_init() || http_init(&ho) ? -1 : 0;
}

static inline void fake_stop(void)
{
	http_cleanup();
	http_global_cleanup();
	for (size_t i = 0; i < fake.n; i++) {
		free(fake.r[i].path);
		free(fake.r[i].body);
	}
	fake.n = 0;
	fake_zero();
}

#endif
