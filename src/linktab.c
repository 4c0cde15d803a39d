/* linktab.c - packed symlink tables for the link views. A leaf. */
#include <stdlib.h>
#include <string.h>

#include "apisecfs/linktab.h"

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct linkent *)a)->name,
		      ((const struct linkent *)b)->name);
}

struct linktab *linktab_from_listing(const struct listing *l, bool *nomem)
{
	size_t n = 0, bytes = 0;
	*nomem = false;
	for (size_t i = 0; i < l->n; i++) {
		const struct listing_entry *e = &l->v[i];
		if (e->kind->type != KIND_LINK || !e->content)
			continue;
		n++;
		bytes += strlen(e->name) + 1 + e->content->len + 1;
	}
	if (!n)
		return NULL;
	struct linktab *t = calloc(1, sizeof(*t));
	if (t) {
		t->v = malloc(n * sizeof(*t->v));
		t->strings = malloc(bytes);
	}
	if (!t || !t->v || !t->strings) {
		linktab_unref(t);
		*nomem = true;
		return NULL;
	}
	t->refs = 1;
	char *p = t->strings;
	for (size_t i = 0; i < l->n; i++) {
		const struct listing_entry *e = &l->v[i];
		if (e->kind->type != KIND_LINK || !e->content)
			continue;
		struct linkent *x = &t->v[t->n++];
		t->kind = e->kind;
		size_t nl = strlen(e->name) + 1;
		x->name = memcpy(p, e->name, nl);
		p += nl;
		x->target = memcpy(p, e->content->data, e->content->len);
		p += e->content->len;
		*p++ = '\0';
		x->mtime = e->mtime;
	}
	qsort(t->v, t->n, sizeof(*t->v), by_name);
	return t;
}

const struct linkent *linktab_find(const struct linktab *t, const char *name)
{
	struct linkent key = { .name = name };
	return t ? bsearch(&key, t->v, t->n, sizeof(*t->v), by_name) : NULL;
}

struct linktab *linktab_ref(struct linktab *t)
{
	if (t)
		__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	return t;
}

void linktab_unref(struct linktab *t)
{
	if (!t || (t->refs && __atomic_sub_fetch(&t->refs, 1,
						  __ATOMIC_ACQ_REL)))
		return;
	free(t->v);
	free(t->strings);
	free(t);
}
