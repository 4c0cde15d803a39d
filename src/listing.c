/* listing.c - building a directory listing (kind.h's struct listing).
 *
 * What a kind's list callback fills and sync.c reconciles with the inode
 * table. A leaf over buf: entries own copies of their strings and the
 * references to their blobs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/kind.h"

int listing_reserve(struct listing *out, size_t n)
{
	if (out->alloc - out->n >= n)
		return 0;
	size_t na = out->n + n;
	struct listing_entry *v = realloc(out->v, na * sizeof(*v));
	if (!v)
		return -ENOMEM;
	out->v = v;
	out->alloc = na;
	return 0;
}

/* The one place an entry is filed: takes name, id and ctx (malloc'd, may
 * be NULL only for id and ctx) and the blob references, also on failure. */
static int add_taking(struct listing *out, char *name, const struct kind *k,
		      char *id, char *ctx, struct blob *content,
		      struct blob *obj, time_t mtime)
{
	if (!name || (out->n == out->alloc &&
		      listing_reserve(out, out->alloc ? out->alloc : 16))) {
		free(name);
		free(id);
		free(ctx);
		blob_unref(content);
		blob_unref(obj);
		return -ENOMEM;
	}
	struct listing_entry *e = &out->v[out->n++];
	memset(e, 0, sizeof(*e));
	e->name = name;
	e->id = id;
	e->ctx = ctx;
	e->kind = k;
	e->content = content;
	e->obj = obj;
	e->mtime = mtime;
	return 0;
}

/* strdup that tells a NULL argument (fine) from a failure (*bad set). */
static char *dup_or_null(const char *s, bool *bad)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*bad = true;
	return d;
}

int listing_add(struct listing *out, const char *name, const struct kind *k,
		const char *id, const char *ctx, struct blob *content,
		struct blob *obj, time_t mtime)
{
	bool bad = false;
	char *n = dup_or_null(name, &bad), *i = dup_or_null(id, &bad),
	     *c = dup_or_null(ctx, &bad);
	if (bad) {
		free(n); /* add_taking frees the rest */
		n = NULL;
	}
	return add_taking(out, n, k, i, c, content, obj, mtime);
}

int listing_take(struct listing *out, char *name, const struct kind *k,
		 char *id, struct blob *content, struct blob *obj,
		 time_t mtime)
{
	return add_taking(out, name, k, id, NULL, content, obj, mtime);
}

int listing_take_reloadable(struct listing *out, char *name,
			    const struct kind *k, char *id, size_t size,
			    uint64_t hash, struct blob *src,
			    struct blob *bytes, time_t mtime)
{
	int rc = add_taking(out, name, k, id, NULL, bytes, NULL, mtime);
	if (rc) {
		blob_unref(src);
		return rc;
	}
	struct listing_entry *e = &out->v[out->n - 1];
	e->size = size;
	e->hash = hash;
	e->src = src;
	return 0;
}

void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++) {
		blob_unref(l->v[i].src);
		free(l->v[i].name);
		free(l->v[i].id);
		free(l->v[i].ctx);
		blob_unref(l->v[i].content);
		blob_unref(l->v[i].obj);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}
