/* test_cache.c - TTL, ETag revalidation, stale-on-error, LRU cap and
 * expiry, with the fake clock (clock.h) and a fake fetch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/cache.h"
#include "apisecfs/clock.h"
#include "check.h"

static long long fake_now;
static int fetches, with_etag;
static enum api_err next_err;
static const char *body = "hello";
static const char *nested_key; /* fetch: get this key meanwhile */
static enum api_err nested_rc;
static int probes; /* fetches made as a probe (one try) */

static int get(const char *key, struct cache_doc *d);

static long long clock_fn(void)
{
	return fake_now;
}

static enum api_err fetch(const char *key, const char *etag, bool once,
			  struct http_resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	buf_init(&rs->body, 1 << 20);
	fetches++;
	probes += once;
	if (nested_key) {
		/* A concurrent reader while this fetch (a probe) runs. */
		struct cache_doc d;
		const char *k = nested_key;
		nested_key = NULL;
		nested_rc = get(k, &d);
		if (nested_rc == API_OK)
			cache_doc_release(&d);
	}
	if (next_err)
		return next_err;
	snprintf(rs->etag, sizeof(rs->etag), "\"%s-%s\"", key, body);
	if (etag && strcmp(etag, rs->etag) == 0) {
		with_etag++;
		rs->status = 304;
		return API_OK;
	}
	rs->status = 200;
	return buf_append(&rs->body, body, strlen(body)) ? API_E_NOMEM
							 : API_OK;
}

static int get(const char *key, struct cache_doc *d)
{
	struct api_status st;
	return cache_get(key, d, &st);
}

int main(void)
{
	/* The cap counts memory, not data: room for two 5-byte bodies. */
	struct blob *five = blob_new("12345", 5);
	size_t cap = 2 * blob_footprint(five);
	blob_unref(five);
	struct cache_opts o = { .ttl_ms = 1000,
				.max_bytes = cap,
				.fetch = fetch };
	struct cache_doc d;
	clock_set_source(clock_fn);
	CHECK(cache_init(&o) == 0);

	/* Miss, then hit within the TTL. */
	CHECK(get("/a", &d) == API_OK && d.body->len == 5);
	uint64_t v1 = d.version;
	cache_doc_release(&d);
	CHECK(get("/a", &d) == API_OK && fetches == 1);
	cache_doc_release(&d);

	/* Past the TTL: revalidated with the ETag, same version. */
	fake_now += 1500;
	CHECK(get("/a", &d) == API_OK && fetches == 2 && with_etag == 1);
	CHECK(d.version == v1);
	cache_doc_release(&d);

	/* Changed bytes: new version. */
	fake_now += 1500;
	body = "world";
	CHECK(get("/a", &d) == API_OK && d.version != v1);
	CHECK(memcmp(d.body->data, "world", 5) == 0);
	cache_doc_release(&d);

	/* Platform down: stale data served, flagged. */
	fake_now += 1500;
	next_err = API_E_TRANSPORT;
	CHECK(get("/a", &d) == API_OK && d.stale);
	cache_doc_release(&d);
	/* Cached data is served at once while the platform is down. An
	 * uncached read probes it (one at a time: a read meanwhile fails at
	 * once), and the first one after it is back gets through. */
	int calls = fetches;
	CHECK(get("/a", &d) == API_OK && d.stale);
	cache_doc_release(&d);
	CHECK(fetches == calls);
	nested_key = "/n";
	CHECK(get("/b", &d) == API_E_TRANSPORT && fetches == calls + 1);
	CHECK(probes == 1);
	CHECK(nested_rc == API_E_TRANSPORT && nested_key == NULL);
	next_err = API_OK;
	CHECK(get("/b", &d) == API_OK && !d.stale && fetches == calls + 2);
	cache_doc_release(&d);
	/* After a timeout a probe would cost a timeout: none until the
	 * pause is over. */
	next_err = API_E_TIMEOUT;
	CHECK(get("/t", &d) == API_E_TIMEOUT);
	calls = fetches;
	CHECK(get("/u", &d) == API_E_TIMEOUT && fetches == calls);
	next_err = API_E_TRANSPORT;
	/* After the pause one request probes again. A 404 is not papered
	 * over with stale data. */
	fake_now += 6000;
	next_err = API_E_NOT_FOUND;
	CHECK(get("/a", &d) == API_E_NOT_FOUND);
	next_err = API_OK;

	/* expire_prefix forces revalidation inside the TTL. */
	CHECK(get("/a", &d) == API_OK);
	cache_doc_release(&d);
	int before = fetches;
	cache_expire_prefix("/a");
	CHECK(get("/a", &d) == API_OK && fetches == before + 1);
	cache_doc_release(&d);

	/* The LRU keeps the total under the cap (two bodies). */
	CHECK(get("/c", &d) == API_OK);
	cache_doc_release(&d);
	CHECK(get("/d", &d) == API_OK);
	cache_doc_release(&d);
	struct cache_stats s;
	cache_get_stats(&s);
	CHECK(s.bytes <= cap && s.evictions >= 1);

	/* Ghosts: an evicted page with a memo keeps key, ETag, version and
	 * memo; its version is then known from a 304, without the body. */
	struct cache_meta meta;
	struct api_status st;
	body = "page1";
	CHECK(get("/p", &d) == API_OK);
	uint64_t pv = d.version;
	cache_set_memo("/p", &d, "next-token", NULL);
	d.version += 99;
	cache_set_memo("/p", &d, "not this version", NULL);
	d.version -= 99;
	cache_doc_release(&d);
	/* Fresh: memo and version at once, no request. */
	before = fetches;
	CHECK(cache_get_meta("/p", &meta, &d, &st) == API_OK);
	CHECK(meta.memo && strcmp(meta.memo, "next-token") == 0 &&
	      meta.version == pv && !meta.has_aux && !d.body &&
	      fetches == before);
	free(meta.memo);
	/* A number rides with the memo (all.jsonl's bytes of the page). */
	uint64_t aux = 4242;
	CHECK(get("/p", &d) == API_OK);
	cache_set_memo("/p", &d, "next-token", &aux);
	cache_doc_release(&d);
	/* Evicted by two other bodies: a ghost. */
	CHECK(get("/q", &d) == API_OK);
	cache_doc_release(&d);
	CHECK(get("/r", &d) == API_OK);
	cache_doc_release(&d);
	cache_get_stats(&s);
	CHECK(s.bytes <= cap);
	/* Past the TTL the ghost is revalidated: one 304, no body. */
	fake_now += 1500;
	before = fetches;
	int etags = with_etag;
	CHECK(cache_get_meta("/p", &meta, &d, &st) == API_OK);
	CHECK(meta.memo && strcmp(meta.memo, "next-token") == 0 &&
	      meta.version == pv && meta.has_aux && meta.aux == 4242);
	CHECK(!d.body && fetches == before + 1 && with_etag == etags + 1);
	free(meta.memo);
	/* The body is needed after all: fetched again, same bytes, same
	 * version (listings built on it stay "unchanged"). */
	CHECK(get("/p", &d) == API_OK && d.version == pv &&
	      memcmp(d.body->data, "page1", 5) == 0);
	cache_doc_release(&d);
	/* Changed on the platform while a ghost: the body comes back with a
	 * new version and no memo. */
	CHECK(get("/q", &d) == API_OK);
	cache_doc_release(&d);
	CHECK(get("/r", &d) == API_OK); /* /p a ghost again */
	cache_doc_release(&d);
	fake_now += 1500;
	body = "page2";
	CHECK(cache_get_meta("/p", &meta, &d, &st) == API_OK);
	CHECK(!meta.memo && d.body && d.version != pv &&
	      memcmp(d.body->data, "page2", 5) == 0);
	cache_doc_release(&d);
	/* A page without a memo is simply evicted (no ghost). */
	cache_get_stats(&s);
	CHECK(s.entries <= 4);

	cache_cleanup();
	return check_report("test_cache");
}
