/* buf.h - capped growable byte buffer, and refcounted immutable blobs.
 *
 * struct buf collects bytes (HTTP bodies, control-file input, renders) and
 * refuses to grow past the cap it was given, so hostile input cannot exhaust
 * memory. struct blob is what a file's content is once rendered: immutable,
 * shared by the node that lists it and every open handle reading it, so
 * getattr's size and read's bytes always come from the same bytes.
 */
#ifndef APISECFS_BUF_H
#define APISECFS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t alloc;
	size_t cap; /* hard limit on len */
};

void buf_init(struct buf *b, size_t cap);
/* Append; returns 0, or -1 (and appends nothing) if the cap would be passed
 * or memory is short. */
int buf_append_slow(struct buf *b, const void *data, size_t len)
	__attribute__((warn_unused_result));
static inline __attribute__((warn_unused_result)) int buf_append(
	struct buf *b, const void *data, size_t len)
{
	/* The renderers append a few bytes at a time: no call while the
	 * allocation has room (it is always within the cap then). */
	if (b->len + len + 1 <= b->alloc && b->len + len <= b->cap) {
		memcpy(b->data + b->len, data, len);
		b->len += len;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_append_slow(b, data, len);
}
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), warn_unused_result));
void buf_reset(struct buf *b);
/* Free the data; wipes it first if wipe is true (secrets). */
void buf_free(struct buf *b, bool wipe);

struct blob {
	int refs; /* atomic */
	size_t len;
	char data[]; /* len bytes plus a NUL */
};

/* New blob holding a copy of data (refs = 1); NULL on allocation failure. */
struct blob *blob_new(const void *data, size_t len);
/* New blob of len bytes for the caller to fill in place (refs = 1, the
 * NUL after them set): bytes read from a file land in it without a copy.
 * NULL on allocation failure. */
struct blob *blob_alloc(size_t len);
/* Take over a buf's allocation as a blob, without a second copy of the
 * bytes (refs = 1); the buf is left empty (no allocation, its cap kept).
 * NULL when memory is short (the buf then keeps its allocation). Not for
 * secrets: the allocation may move and the old bytes are not wiped. */
struct blob *blob_from_buf(struct buf *b);
struct blob *blob_ref(struct blob *bl);
void blob_unref(struct blob *bl); /* NULL is fine */
/* The memory bl takes, header and allocator overhead included: what the
 * caps count, so cache_size=N holds N MiB, not N MiB of data. */
size_t blob_footprint(const struct blob *bl);
bool blob_equal(const struct blob *a, const struct blob *b);
/* FNV-1a of len bytes: stable across builds and machines (the export's
 * page files are named by it), but a byte at a time: for short keys. Its
 * seed is not FNV's offset basis (14695981039346656037, one digit more)
 * and must stay as it is, or every stored page name would change. */
uint64_t buf_hash(const void *data, size_t len);
/* FNV-1a carried on from h: BUF_HASH_SEED, or what an earlier call
 * returned. Hashing a, then b, equals buf_hash of a and b end to end: the
 * one way to sign a sequence (page versions, entries, lists). */
#define BUF_HASH_SEED 1469598103934665603ULL
uint64_t buf_hash_continue(uint64_t h, const void *data, size_t len);
/* A 64-bit digest eight bytes at a time (several times faster than
 * buf_hash): tells whether re-rendered content is the same. In-memory
 * only; it may differ between builds. */
uint64_t buf_digest(const void *data, size_t len);

#endif
