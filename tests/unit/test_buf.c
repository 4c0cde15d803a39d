/* test_buf.c - the hashes of buf.c: buf_hash keeps its values (the
 * export names its page files by them, so a changed value would orphan
 * every stored page), buf_hash_continue chains like one long input, and
 * buf_digest tells apart what it must. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "apisecfs/buf.h"
#include "check.h"

static void test_hash_pinned(void)
{
	/* Values buf_hash gave before buf_hash_continue existed, among them
	 * a page key as pagestore.c hashes it (its page file's name). The
	 * seed is not FNV's published offset basis (that one has one more
	 * digit, 14695981039346656037): kept, as the names depend on it. */
	CHECK(buf_hash("", 0) == 0x14650fb0739d0383ULL);
	CHECK(buf_hash("", 0) == BUF_HASH_SEED);
	CHECK(buf_hash("a", 1) == 0x44bd8ad473cd9906ULL);
	CHECK(buf_hash("foobar", 6) == 0x88fad7c0a8ff07f2ULL);
	const char *key = "/v1/vulnerabilities?limit=500";
	CHECK(buf_hash(key, strlen(key)) == 0x314d19f0da87779aULL);
}

static void test_hash_continue(void)
{
	const char *s = "/v1/scans?limit=500&nextToken=abc";
	size_t n = strlen(s);
	for (size_t cut = 0; cut <= n; cut++) {
		uint64_t h = buf_hash_continue(BUF_HASH_SEED, s, cut);
		CHECK(buf_hash_continue(h, s + cut, n - cut) == buf_hash(s, n));
	}
	/* A signature over a sequence sees order and every member. */
	uint64_t v[3] = { 1, 2, 3 }, w[3] = { 2, 1, 3 };
	uint64_t a = BUF_HASH_SEED, b = BUF_HASH_SEED, c = BUF_HASH_SEED;
	for (int i = 0; i < 3; i++) {
		a = buf_hash_continue(a, &v[i], sizeof(v[i]));
		b = buf_hash_continue(b, &w[i], sizeof(w[i]));
		c = buf_hash_continue(c, &v[i], i == 2 ? 0 : sizeof(v[i]));
	}
	CHECK(a != b);
	CHECK(a != c);
	CHECK(buf_hash_continue(BUF_HASH_SEED, v, sizeof(v)) == a);
}

int main(void)
{
	test_hash_pinned();
	test_hash_continue();
	return check_report("test_buf");
}
