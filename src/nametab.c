/* nametab.c - children by name: open addressing with tombstones. A leaf
 * apart from buf (the hash). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/buf.h"
#include "apisecfs/nametab.h"

#define TOMB ((void *)1) /* a deleted slot: probing goes on past it */

static const char *name_of(const struct nametab *t, const void *obj)
{
	const char *at = (const char *)obj + t->name_off, *s;
	if (t->name_inline)
		return at;
	memcpy(&s, at, sizeof(s));
	return s;
}

static size_t home(const struct nametab *t, const char *name)
{
	return (size_t)(buf_hash(name, strlen(name)) & (t->nslots - 1));
}

void nametab_init(struct nametab *t, size_t name_off, bool name_inline)
{
	memset(t, 0, sizeof(*t));
	t->name_off = (uint32_t)name_off;
	t->name_inline = name_inline;
}

void nametab_free(struct nametab *t)
{
	free(t->slots);
	nametab_init(t, t->name_off, t->name_inline);
}

/* The slot holding name, or SIZE_MAX. */
static size_t find_slot(const struct nametab *t, const char *name)
{
	if (!t->nslots)
		return SIZE_MAX;
	size_t mask = t->nslots - 1;
	for (size_t i = home(t, name);; i = (i + 1) & mask) {
		void *o = t->slots[i];
		if (!o)
			return SIZE_MAX;
		if (o != TOMB && strcmp(name_of(t, o), name) == 0)
			return i;
	}
}

/* Put obj in the first free or deleted slot of its probe sequence. */
static void place(struct nametab *t, void *obj)
{
	size_t mask = t->nslots - 1;
	size_t i = home(t, name_of(t, obj));
	while (t->slots[i] && t->slots[i] != TOMB)
		i = (i + 1) & mask;
	if (t->slots[i] == TOMB)
		t->tombs--;
	t->slots[i] = obj;
	t->count++;
}

/* Rebuild at a size that keeps the table at most half full, dropping the
 * tombstones. */
static int rebuild(struct nametab *t)
{
	size_t n = 8;
	while (n < 4 * ((size_t)t->count + 1))
		n *= 2;
	if (n > UINT32_MAX)
		return -1;
	void **v = calloc(n, sizeof(*v));
	if (!v)
		return -1;
	void **old = t->slots;
	size_t old_n = t->nslots;
	t->slots = v;
	t->nslots = (uint32_t)n;
	t->count = t->tombs = 0;
	for (size_t i = 0; i < old_n; i++)
		if (old[i] && old[i] != TOMB)
			place(t, old[i]);
	free(old);
	return 0;
}

int nametab_add(struct nametab *t, void *obj)
{
	if (2 * ((size_t)t->count + t->tombs + 1) > t->nslots && rebuild(t))
		return -1;
	place(t, obj);
	return 0;
}

void *nametab_find(const struct nametab *t, const char *name)
{
	size_t i = find_slot(t, name);
	return i == SIZE_MAX ? NULL : t->slots[i];
}

void nametab_del(struct nametab *t, void *obj)
{
	size_t i = find_slot(t, name_of(t, obj));
	if (i == SIZE_MAX || t->slots[i] != obj)
		return;
	t->slots[i] = TOMB;
	t->count--;
	t->tombs++;
}

void *nametab_next(const struct nametab *t, size_t *pos)
{
	for (; *pos < t->nslots; (*pos)++) {
		void *o = t->slots[*pos];
		if (o && o != TOMB)
			return o;
	}
	return NULL;
}
