/* listing.c - building a directory listing (kind.h's struct listing).
 *
 * What a kind's list callback fills and sync.c reconciles with the inode
 * table. A leaf over buf: entries own copies of their strings and the
 * references to their blobs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/kind.h"

int listing_add(struct listing *out, const char *name, const struct kind *k,
		const char *id, const char *ctx, struct blob *content,
		struct blob *obj, time_t mtime)
{
	if (out->n == out->alloc) {
		size_t na = out->alloc ? out->alloc * 2 : 16;
		struct listing_entry *v = realloc(out->v, na * sizeof(*v));
		if (!v)
			goto nomem;
		out->v = v;
		out->alloc = na;
	}
	struct listing_entry *e = &out->v[out->n];
	e->name = strdup(name);
	e->id = id ? strdup(id) : NULL;
	e->ctx = ctx ? strdup(ctx) : NULL;
	if (!e->name || (id && !e->id) || (ctx && !e->ctx)) {
		free(e->name);
		free(e->id);
		free(e->ctx);
		goto nomem;
	}
	e->kind = k;
	e->content = content;
	e->obj = obj;
	e->mtime = mtime;
	e->size = 0;
	e->hash = 0;
	e->src = NULL;
	out->n++;
	return 0;
nomem:
	blob_unref(content);
	blob_unref(obj);
	return -ENOMEM;
}

int listing_add_reloadable(struct listing *out, const char *name,
			   const struct kind *k, const char *id, size_t size,
			   uint64_t hash, struct blob *src, time_t mtime)
{
	int rc = listing_add(out, name, k, id, NULL, NULL, NULL, mtime);
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
