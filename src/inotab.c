/* inotab.c - objects by 64-bit number: open addressing. A leaf. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/inotab.h"

static uint64_t key_of(const struct inotab *t, const void *obj)
{
	uint64_t k;
	memcpy(&k, (const char *)obj + t->key_off, sizeof(k));
	return k;
}

/* Inode numbers are sequential: a multiplicative (Fibonacci) hash spreads
 * them over the top bits. */
static size_t home(const struct inotab *t, uint64_t key)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ULL) >>
			(64 - __builtin_ctzll(t->nslots)));
}

/* The slot holding key, or the empty slot where it would go. */
static size_t slot_of(const struct inotab *t, uint64_t key)
{
	size_t mask = t->nslots - 1;
	size_t i = home(t, key);
	while (t->slots[i] && key_of(t, t->slots[i]) != key)
		i = (i + 1) & mask;
	return i;
}

void inotab_init(struct inotab *t, size_t key_off)
{
	memset(t, 0, sizeof(*t));
	t->key_off = key_off;
}

void inotab_free(struct inotab *t)
{
	free(t->slots);
	inotab_init(t, t->key_off);
}

static int grow(struct inotab *t)
{
	size_t old_n = t->nslots;
	void **old = t->slots;
	size_t n = old_n ? old_n * 2 : 1024;
	void **v = calloc(n, sizeof(*v));
	if (!v)
		return -1;
	t->slots = v;
	t->nslots = n;
	for (size_t i = 0; i < old_n; i++)
		if (old[i])
			t->slots[slot_of(t, key_of(t, old[i]))] = old[i];
	free(old);
	return 0;
}

int inotab_add(struct inotab *t, void *obj)
{
	if ((t->count + 1) * 2 > t->nslots && grow(t))
		return -1;
	t->slots[slot_of(t, key_of(t, obj))] = obj;
	t->count++;
	return 0;
}

void *inotab_find(const struct inotab *t, uint64_t key)
{
	return t->nslots ? t->slots[slot_of(t, key)] : NULL;
}

void inotab_del(struct inotab *t, void *obj)
{
	if (!t->nslots)
		return;
	size_t mask = t->nslots - 1;
	size_t i = slot_of(t, key_of(t, obj));
	if (t->slots[i] != obj)
		return;
	/* Backward shift: move up each later entry of the cluster whose
	 * home is not in (i, j], so no probe chain is cut by the hole. */
	for (size_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
		size_t k = home(t, key_of(t, t->slots[j]));
		bool movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
		if (movable) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i] = NULL;
	t->count--;
}

void *inotab_next(const struct inotab *t, size_t *pos)
{
	for (; t->count && *pos < t->nslots; (*pos)++)
		if (t->slots[*pos])
			return t->slots[*pos];
	return NULL;
}
