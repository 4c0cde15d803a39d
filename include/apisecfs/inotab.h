/* inotab.h - a table of objects by 64-bit number (inode numbers).
 *
 * Open addressing with linear probing, at most half full, backward-shift
 * deletion (no tombstones). Each slot is one pointer: the number is read
 * from the object itself, at key_off, so a node costs 8-16 bytes here
 * where a uthash handle took 56. Not locked: the owner's lock guards it.
 */
#ifndef APISECFS_INOTAB_H
#define APISECFS_INOTAB_H

#include <stddef.h>
#include <stdint.h>

struct inotab {
	void **slots;
	size_t nslots, count;
	size_t key_off; /* offset of the uint64_t number in each object */
};

void inotab_init(struct inotab *t, size_t key_off);
void inotab_free(struct inotab *t); /* the table, not the objects */
/* Add obj (its number must not be in the table): 0, or -1 on ENOMEM. */
int inotab_add(struct inotab *t, void *obj)
	__attribute__((warn_unused_result));
void *inotab_find(const struct inotab *t, uint64_t key);
/* Remove obj if it is the one filed under its number. */
void inotab_del(struct inotab *t, void *obj);
/* Iteration: the first object at slot *pos or after (*pos is set to its
 * slot), or NULL at the end. Start with *pos = 0 and step with (*pos)++.
 * To empty the table, delete what it returns without stepping: deletion
 * only moves later objects into the freed slot, so each is met once. */
void *inotab_next(const struct inotab *t, size_t *pos);

#endif
