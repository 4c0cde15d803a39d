/* test_stream.c - paged files (stream.c) over a canned platform
 * (fakeplat.h) on the fake clock: the index of two lists' pages and their
 * measured bytes, reads at every offset across page and list boundaries,
 * the index kept when no page's version changed, a new index when one
 * did (and EIO from a reader of the old one on the changed page), an
 * index from the measures a listing left, and a missing page's errno. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/auth.h"
#include "apisecfs/cache.h"
#include "apisecfs/json.h"
#include "apisecfs/prefetch.h"
#include "apisecfs/stream.h"
#include "check.h"
#include "fakeplat.h"

#define TTL_MS 1000

/* An item's bytes: "<id> <status>\n" (lengths differ by status). */
static int item(const cJSON *it, struct buf *out)
{
	const char *id = json_str(it, "thingId");
	const char *status = json_str(it, "status");
	if (!id || !status)
		return -1;
	return buf_append(out, id, strlen(id)) || buf_append(out, " ", 1) ||
			       buf_append(out, status, strlen(status)) ||
			       buf_append(out, "\n", 1)
		       ? -1
		       : 0;
}

static size_t item_len(const cJSON *it)
{
	const char *id = json_str(it, "thingId");
	const char *status = json_str(it, "status");
	return id && status ? strlen(id) + strlen(status) + 2 : SIZE_MAX;
}

/* What the file must hold: the lists' items in order, written here
 * without stream.c or the JSON. */
static size_t expect(char *out, size_t outsz, const struct fake_list *const *l)
{
	size_t n = 0;
	for (; *l; l++)
		for (int i = 0; i < (*l)->n; i++)
			n += (size_t)snprintf(out + n, outsz - n, "%s%d %s\n",
					      (*l)->pfx, i + 1,
					      (*l)->status[i] ? (*l)->status[i]
							      : "Open");
	return n;
}

static int noop(const cJSON *it, const char *key, void *ud)
{
	(void)it, (void)key, (void)ud;
	return 0;
}

/* Every read of every length class at every offset gives the expected
 * bytes (and 0 at or past the end). */
static void read_everywhere(struct stream *s, const char *want, size_t size)
{
	static const size_t lens[] = { 1, 2, 7, 19, 64, 4096 };
	char got[4096];
	size_t bad = 0;
	struct stream_reader *r = stream_reader_new(s);
	CHECK(r != NULL);
	for (size_t li = 0; r && li < sizeof(lens) / sizeof(*lens); li++) {
		for (size_t off = 0; off <= size + 1; off++) {
			int n = stream_read(r, got, lens[li], (off_t)off);
			size_t exp = off >= size	     ? 0
				     : size - off < lens[li] ? size - off
							     : lens[li];
			bad += n < 0 || (size_t)n != exp ||
			       memcmp(got, want + (off < size ? off : 0),
				      exp) != 0;
		}
	}
	CHECK(bad == 0);
	CHECK(r && stream_read(r, got, 1, -1) == -EINVAL);
	stream_reader_free(r);
}

int main(void)
{
	char err[256], want[4096], key[256];
	struct stream *s, *s2, *s3;

	CHECK(fake_start() == 0);
	setenv("APISECFS_TOKEN", "tok", 1);
	struct auth_opts ao = { .base_url = FAKE_BASE };
	CHECK(auth_init(&ao, err, sizeof(err)) == 0);
	struct cache_opts co = { .ttl_ms = TTL_MS,
				 .max_bytes = 1 << 20,
				 .fetch = api_fetch };
	struct api_opts po = { .base_url = FAKE_BASE, .ttl_ms = TTL_MS };
	CHECK(cache_init(&co) == 0 && api_init(&po) == 0);
	prefetch_stop(); /* counts stay exact (see test_api.c) */

	/* Two lists, one file: 8 things (3 pages) then 2 more (1 page). */
	struct fake_list things = { "/v1/things",
				    "thingId",
				    "x",
				    8,
				    { "Open", "Fixed", "Accepted risk", "A",
				      "Open", "Reopened!", "Open", "B" } };
	struct fake_list more = {
		"/v1/more", "thingId", "y", 2, { "Last", "Very last" }
	};
	const struct fake_list *both[] = { &things, &more, NULL };
	const char *const paths[] = { "/v1/things", "/v1/more", NULL };
	fake_publish(&things);
	fake_publish(&more);

	/* The index: one request per page, the size from the measures. */
	fake_zero();
	CHECK(stream_build(paths, item, item_len, NULL, &s) == 0);
	size_t size = expect(want, sizeof(want), both);
	CHECK(s && stream_size(s) == size && fake.asked == 4);
	/* Reads are rendered from the cached pages: nothing asked. */
	fake_zero();
	read_everywhere(s, want, size);
	CHECK(fake.asked == 0);

	/* Past the TTL, every page revalidated (304) and measured already:
	 * the same index, not a copy. */
	fake_advance(2 * TTL_MS);
	fake_zero();
	CHECK(stream_build(paths, item, item_len, s, &s2) == 0);
	CHECK(s2 == s && fake.asked == 4 && fake.not_modified == 4 &&
	      fake.bodies == 0);
	stream_unref(s2);

	/* One page changed (x5 on the second page gets longer): a new index
	 * with the new bytes. A reader of the old index gets EIO on that
	 * page (never a mix of old and new bytes), its other pages still
	 * read as they were. */
	struct stream_reader *old = stream_reader_new(s);
	things.status[4] = "Fixed at last";
	fake_publish(&things);
	fake_advance(2 * TTL_MS);
	fake_zero();
	CHECK(stream_build(paths, item, item_len, s, &s2) == 0);
	CHECK(s2 != s && stream_sig(s2) != stream_sig(s));
	CHECK(fake.bodies == 1 && fake.not_modified == 3);
	size_t size2 = expect(want, sizeof(want), both);
	CHECK(stream_size(s2) == size2 && size2 == size + 9);
	read_everywhere(s2, want, size2);
	char got[64];
	size_t p2 = strlen("x1 Open\nx2 Fixed\nx3 Accepted risk\n");
	CHECK(stream_read(old, got, 4, (off_t)p2) == -EIO);
	CHECK(stream_read(old, got, 8, 0) == 8 &&
	      memcmp(got, "x1 Open\n", 8) == 0);
	stream_reader_free(old);

	/* A listing walked the changed list (and measured its pages as it
	 * parsed them): the next index needs no request at all. */
	things.status[0] = "Closed";
	fake_publish(&things);
	fake_advance(2 * TTL_MS);
	uint64_t sig;
	bool unchanged;
	struct api_status st;
	CHECK(api_list("/v1/things", 0, noop, NULL, &sig, &unchanged, &st) ==
	      API_OK);
	CHECK(api_list("/v1/more", 0, noop, NULL, &sig, &unchanged, &st) ==
	      API_OK);
	fake_zero();
	CHECK(stream_build(paths, item, item_len, s2, &s3) == 0);
	CHECK(fake.asked == 0 && s3 != s2);
	size_t size3 = expect(want, sizeof(want), both);
	CHECK(stream_size(s3) == size3);
	read_everywhere(s3, want, size3);

	/* A page gone: the build fails with its errno, no index. */
	fake_page_key(key, sizeof(key), "/v1/things", 2);
	fake_set(key, NULL);
	fake_advance(2 * TTL_MS);
	struct stream *none = NULL;
	CHECK(stream_build(paths, item, item_len, s3, &none) == -ENOENT &&
	      !none);

	stream_unref(s);
	stream_unref(s2);
	stream_unref(s3);
	api_cleanup();
	cache_cleanup();
	auth_cleanup();
	fake_stop();
	return check_report("test_stream");
}
