/* test_blob.c - a buf becoming a blob (blob_from_buf): the blob holds the
 * same bytes and a NUL after them, takes the buf's allocation (the buf is
 * left empty, with its cap, and can be filled again), and goes with its
 * last reference (ASan checks the frees). Sizes cover the empty buf, the
 * heap and glibc's mmapped chunks. A blob filled in place (blob_alloc)
 * is a blob like the others. */
#include <stdlib.h>
#include <string.h>

#include "apisecfs/buf.h"
#include "check.h"

static void one(size_t len)
{
	struct buf b;
	buf_init(&b, len + 1);
	for (size_t i = 0; i < len; i++) {
		char c = (char)('a' + (check_rnd() % 26));
		if (buf_append(&b, &c, 1))
			break;
	}
	CHECK(b.len == len);
	char *want = malloc(len + 1);
	CHECK(want != NULL);
	if (!want)
		return;
	if (b.data)
		memcpy(want, b.data, len);
	struct blob *bl = blob_from_buf(&b);
	CHECK(bl && bl->len == len && bl->refs == 1);
	CHECK(bl && memcmp(bl->data, want, len) == 0 && bl->data[len] == 0);
	/* Taken over: nothing left in the buf, which works again. */
	CHECK(b.data == NULL && b.len == 0 && b.alloc == 0 &&
	      b.cap == len + 1);
	CHECK(buf_append(&b, "x", 1) == 0 && b.len == 1);
	CHECK(blob_ref(bl) == bl);
	blob_unref(bl);
	CHECK(bl && bl->refs == 1 && memcmp(bl->data, want, len) == 0);
	blob_unref(bl);
	buf_free(&b, false);
	free(want);
}

/* A blob filled in place (blob_alloc, spill.c reads into it): the NUL
 * after its bytes set, and the footprint of a copy made by blob_new. */
static void alloc(size_t len)
{
	struct blob *bl = blob_alloc(len);
	CHECK(bl && bl->len == len && bl->refs == 1 && bl->data[len] == 0);
	if (!bl)
		return;
	memset(bl->data, 'z', len);
	struct blob *copy = blob_new(bl->data, len);
	CHECK(copy && blob_equal(bl, copy) && copy->data[len] == 0);
	CHECK(copy && blob_footprint(copy) == blob_footprint(bl));
	blob_unref(copy);
	blob_unref(bl);
}

int main(void)
{
	static const size_t sizes[] = { 0,	1,	  15,
					255,	256,	  4096,
					100000, 1u << 20, (8u << 20) + 3 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		one(sizes[i]);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		alloc(sizes[i]);
	return check_report("test_blob");
}
