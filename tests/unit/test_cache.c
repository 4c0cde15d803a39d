/* test_cache.c - TTL, ETag revalidation, stale-on-error, LRU cap and
 * expiry, with a fake clock and a fake fetch. */
#include <stdio.h>
#include <string.h>

#include "apisecfs/cache.h"
#include "check.h"

static long long fake_now;
static int fetches, with_etag;
static enum api_err next_err;
static const char *body = "hello";

static long long clock_fn(void)
{
	return fake_now;
}

static enum api_err fetch(const char *key, const char *etag,
			  struct http_resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	buf_init(&rs->body, 1 << 20);
	fetches++;
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
	struct cache_opts o = { .ttl_ms = 1000, .max_bytes = 12,
				.fetch = fetch, .clock = clock_fn };
	struct cache_doc d;
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
	/* Nothing cached: the error comes through, at once: the platform is
	 * left alone for a while after it failed. */
	int calls = fetches;
	CHECK(get("/b", &d) == API_E_TRANSPORT);
	CHECK(get("/a", &d) == API_OK && d.stale);
	cache_doc_release(&d);
	CHECK(fetches == calls);
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

	/* The LRU keeps the total under the cap (12 bytes: two bodies). */
	CHECK(get("/c", &d) == API_OK);
	cache_doc_release(&d);
	CHECK(get("/d", &d) == API_OK);
	cache_doc_release(&d);
	struct cache_stats s;
	cache_get_stats(&s);
	CHECK(s.bytes <= 12 && s.evictions >= 1);

	cache_cleanup();
	return check_report("test_cache");
}
