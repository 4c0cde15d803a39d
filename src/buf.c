/* buf.c - capped growable buffers and refcounted immutable blobs. A leaf. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/buf.h"

void buf_init(struct buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

static int grow(struct buf *b, size_t need)
{
	if (need > b->cap)
		return -1;
	if (need + 1 <= b->alloc)
		return 0;
	size_t n = b->alloc ? b->alloc : 256;
	while (n < need + 1)
		n *= 2;
	char *p = realloc(b->data, n);
	if (!p)
		return -1;
	b->data = p;
	b->alloc = n;
	return 0;
}

int buf_append_slow(struct buf *b, const void *data, size_t len)
{
	if (len > b->cap || grow(b, b->len + len))
		return -1;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	if (grow(b, b->len + (size_t)n))
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_free(struct buf *b, bool wipe)
{
	if (b->data && wipe)
		explicit_bzero(b->data, b->alloc);
	free(b->data);
	b->data = NULL;
	b->len = b->alloc = 0;
}

struct blob *blob_alloc(size_t len)
{
	struct blob *bl = malloc(sizeof(*bl) + len + 1);
	if (!bl)
		return NULL;
	bl->refs = 1;
	bl->len = len;
	bl->data[len] = '\0';
	return bl;
}

struct blob *blob_new(const void *data, size_t len)
{
	struct blob *bl = blob_alloc(len);
	if (bl && len)
		memcpy(bl->data, data, len);
	return bl;
}

size_t blob_footprint(const struct blob *bl)
{
	/* glibc rounds to 16 bytes and keeps an 8-byte size before each
	 * chunk; large ones are mmapped whole pages (rounded here too). */
	size_t n = sizeof(*bl) + bl->len + 1 + sizeof(size_t);
	return (n + 15) & ~(size_t)15;
}

struct blob *blob_from_buf(struct buf *b)
{
	size_t len = b->len, hdr = offsetof(struct blob, data);
	if (!b->data)
		return blob_new(NULL, 0);
	/* The buf's allocation becomes the blob: resized to header + bytes
	 * (a large one is remapped, not copied) and the bytes moved up in
	 * place, so a render never needs its size twice over. */
	char *p = realloc(b->data, hdr + len + 1);
	if (!p)
		return NULL;
	memmove(p + hdr, p, len + 1);
	struct blob *bl = (struct blob *)(void *)p;
	bl->refs = 1;
	bl->len = len;
	b->data = NULL;
	b->len = b->alloc = 0;
	return bl;
}

struct blob *blob_ref(struct blob *bl)
{
	if (bl)
		__atomic_add_fetch(&bl->refs, 1, __ATOMIC_RELAXED);
	return bl;
}

void blob_unref(struct blob *bl)
{
	if (bl && __atomic_sub_fetch(&bl->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(bl);
}

bool blob_equal(const struct blob *a, const struct blob *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->len != b->len)
		return false;
	return memcmp(a->data, b->data, a->len) == 0;
}

uint64_t buf_hash_continue(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL; /* the 64-bit FNV prime */
	}
	return h;
}

uint64_t buf_hash(const void *data, size_t len)
{
	return buf_hash_continue(BUF_HASH_SEED, data, len);
}

uint64_t buf_digest(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
	/* Each step is a bijection of h for a given word (xor, odd multiply,
	 * xorshift), so two inputs differing in one word never meet. */
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	uint64_t w = 0;
	memcpy(&w, p, len);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 32);
}
