/* test_buf.c - buf.c: a buf refuses to pass its cap and then keeps what
 * it had; blob_new copies, blobs count references and compare by bytes;
 * buf_hash keeps its values (the export names its page files by them, so
 * a changed value would orphan every stored page), buf_hash_continue
 * chains like one long input, and buf_digest tells apart what it must. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/buf.h"
#include "check.h"

static void test_cap(void)
{
	struct buf b;
	buf_init(&b, 10);
	CHECK(buf_append(&b, "hello", 5) == 0);
	CHECK(buf_append(&b, "world", 5) == 0); /* exactly the cap */
	CHECK(b.len == 10 && strcmp(b.data, "helloworld") == 0);
	/* One byte over: refused, and nothing of it appended. */
	CHECK(buf_append(&b, "!", 1) == -1);
	CHECK(b.len == 10 && strcmp(b.data, "helloworld") == 0);
	CHECK(buf_printf(&b, "%d", 7) == -1);
	CHECK(b.len == 10 && b.data[10] == '\0');
	buf_reset(&b);
	CHECK(b.len == 0 && b.data[0] == '\0');
	/* Larger than the cap at once, from empty. */
	CHECK(buf_append(&b, "0123456789A", 11) == -1);
	CHECK(b.len == 0);
	buf_free(&b, true);
	CHECK(b.data == NULL && b.len == 0 && b.alloc == 0);

	/* buf_printf's long path (over its 512-byte stack buffer): within
	 * the cap it appends, over it it refuses and keeps the old bytes. */
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 1500);
	CHECK(buf_append(&b, "ab", 2) == 0);
	CHECK(buf_printf(&b, "%.1000s", big) == 0);
	CHECK(b.len == 1002 && b.data[1002] == '\0');
	CHECK(buf_printf(&b, "%s", big) == -1);
	CHECK(b.len == 1002 && b.data[1002] == '\0');
	CHECK(memcmp(b.data, "abx", 3) == 0);
	buf_free(&b, false);

	/* Many small appends (the inline path) up to the cap, not past. */
	buf_init(&b, 1000);
	size_t n = 0;
	while (buf_append(&b, "abc", 3) == 0)
		n += 3;
	CHECK(n == 999 && b.len == 999 && b.data[999] == '\0');
	CHECK(buf_append(&b, "a", 1) == 0 && b.len == 1000);
	CHECK(buf_append(&b, "a", 1) == -1 && b.len == 1000);
	buf_free(&b, false);
}

static void test_blobs(void)
{
	char src[] = "payload";
	struct blob *a = blob_new(src, 7);
	CHECK(a && a->refs == 1 && a->len == 7 && a->data[7] == '\0');
	src[0] = 'X'; /* a copy: the source may change */
	CHECK(memcmp(a->data, "payload", 7) == 0);
	CHECK(blob_ref(a) == a && a->refs == 2);
	blob_unref(a);
	CHECK(a->refs == 1);
	CHECK(blob_ref(NULL) == NULL);
	blob_unref(NULL);

	/* Equal by bytes, not by address (blob_from_buf: test_blob.c). */
	struct blob *c = blob_new("payload", 7);
	CHECK(c && c != a && blob_equal(a, c) && blob_equal(a, a));

	struct blob *d = blob_new("payloaD", 7), *e = blob_new("pay", 3);
	struct blob *empty = blob_new(NULL, 0);
	CHECK(!blob_equal(a, d) && !blob_equal(a, e) && !blob_equal(a, NULL));
	CHECK(empty && empty->len == 0 && empty->data[0] == '\0');
	/* What the caps count: at least the bytes and the header, in the
	 * allocator's 16-byte steps. */
	CHECK(blob_footprint(a) >= sizeof(*a) + 8);
	CHECK(blob_footprint(a) % 16 == 0);
	blob_unref(a);
	blob_unref(c);
	blob_unref(d);
	blob_unref(e);
	blob_unref(empty);
}

static void test_digest(void)
{
	unsigned char x[80], y[80 + 1];
	for (size_t i = 0; i < sizeof(x); i++)
		x[i] = (unsigned char)check_rnd();
	for (size_t len = 0; len <= sizeof(x); len++) {
		uint64_t d = buf_digest(x, len);
		/* The same bytes at another alignment: the same digest. */
		memcpy(y + 1, x, len);
		CHECK(buf_digest(y + 1, len) == d);
		/* Any one byte changed, in the words or the tail: another. */
		for (size_t i = 0; i < len; i++) {
			y[1 + i] ^= 0x01;
			CHECK(buf_digest(y + 1, len) != d);
			y[1 + i] ^= 0x81;
			CHECK(buf_digest(y + 1, len) != d);
			y[1 + i] ^= 0x80;
		}
		/* A trailing NUL is a byte like any other. */
		if (len < sizeof(x)) {
			y[1 + len] = 0;
			CHECK(buf_digest(y + 1, len + 1) != d);
		}
	}
	CHECK(buf_digest("", 0) != buf_digest("\0", 1));
	CHECK(buf_digest("abcdefgh", 8) != buf_digest("abcdefgh\0", 9));
}

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
		CHECK(buf_hash_continue(h, s + cut, n - cut) ==
		      buf_hash(s, n));
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
	test_cap();
	test_blobs();
	test_digest();
	test_hash_pinned();
	test_hash_continue();
	return check_report("test_buf");
}
