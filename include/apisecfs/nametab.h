/* nametab.h - a directory's children by name.
 *
 * Open addressing with linear probing over one pointer a slot; the name
 * is read from the object itself, at name_off: a char * there, or the
 * characters themselves (inline). A child costs
 * 8-16 bytes here where a uthash handle in every node took 56, and most
 * nodes (findings) are never directories. Deletion leaves a tombstone, so
 * deleting while iterating is safe: nothing moves until the next add.
 * Not locked: the owner's lock guards it.
 */
#ifndef APISECFS_NAMETAB_H
#define APISECFS_NAMETAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nametab {
	void **slots;
	uint32_t nslots, count, tombs;
	uint32_t name_off; /* offset of the name in each object */
	bool name_inline;  /* the name is there, not a pointer to it */
};

void nametab_init(struct nametab *t, size_t name_off, bool name_inline);
void nametab_free(struct nametab *t); /* the table, not the objects */
/* Add obj (no object of that name may be in the table): 0, or -1 when
 * memory is short. May reorder the table: not while iterating. */
int nametab_add(struct nametab *t, void *obj)
	__attribute__((warn_unused_result));
void *nametab_find(const struct nametab *t, const char *name);
/* Remove obj if it is in the table. */
void nametab_del(struct nametab *t, void *obj);
static inline size_t nametab_count(const struct nametab *t)
{
	return t->count;
}
/* Iteration: the first object at slot *pos or after, or NULL at the end.
 * Start with *pos = 0 and step with (*pos)++; nametab_del on what it
 * returned is fine. */
void *nametab_next(const struct nametab *t, size_t *pos);

#endif
