/* linktab.h - a directory's symlinks, packed: the link views
 * (vulns/by-severity/S/, apps/NAME/vulns/, ...) hold one entry per
 * finding, and a full inode each would make memory follow the data. A
 * link becomes an inode only when something looks it up by name; readdir
 * reads the table.
 *
 * Immutable once built and refcounted, so readdir snapshots share it.
 */
#ifndef APISECFS_LINKTAB_H
#define APISECFS_LINKTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "apisecfs/buf.h"
#include "apisecfs/kind.h"

struct linkent {
	const char *name;
	const char *target; /* NULL: the table's prefix + name (the usual) */
	time_t mtime;
	uint32_t hash;	  /* of the name: half of its inode number */
	bool hash_shared; /* another name of the table has the same hash */
};

struct linktab {
	int refs;		 /* atomic */
	const struct kind *kind; /* of every link */
	size_t n;
	struct linkent *v; /* sorted by name */
	uint32_t *by_hash; /* indexes into v, sorted by hash */
	char *prefix;	   /* of targets that end in the link's own name */
	char *strings;
};

/* The links among l's entries (KIND_LINK), or NULL if there are none or
 * memory is short (*nomem then set). */
struct linktab *linktab_from_listing(const struct listing *l, bool *nomem);
const struct linkent *linktab_find(const struct linktab *t, const char *name);
/* Links never get an inode of their own when they can do without: a
 * link's inode number is LINKTAB_INO_BIT | directory inode << 32 | name
 * hash, and getattr/readlink find the entry from it in the directory's
 * current table. (Real inode numbers count up from 2 and never reach the
 * top bit.) This keeps memory flat when grep -r or find lstat every link
 * of the views: one 32-byte entry per link instead of an inode each. */
#define LINKTAB_INO_BIT (1ULL << 63)
static inline bool linktab_is_ino(uint64_t ino)
{
	return (ino & LINKTAB_INO_BIT) != 0;
}
static inline uint64_t linktab_dir_of(uint64_t ino)
{
	return (ino & ~LINKTAB_INO_BIT) >> 32;
}
/* e's inode number in directory dir, or 0 when it cannot have one (its
 * hash is shared within the table, or dir does not fit): then the caller
 * makes it a real inode. */
uint64_t linktab_ino(const struct linkent *e, uint64_t dir);
/* The entry an inode number from linktab_ino names, or NULL. */
const struct linkent *linktab_by_ino(const struct linktab *t, uint64_t ino);
/* Attributes of a link (owner given). */
void linktab_stat(const struct linktab *t, const struct linkent *e,
		  uint64_t ino, uid_t uid, gid_t gid, struct stat *st);
/* e's target: a new blob (NULL on ENOMEM), its length, or whether it is s. */
struct blob *linktab_target(const struct linktab *t, const struct linkent *e);
size_t linktab_target_len(const struct linktab *t, const struct linkent *e);
bool linktab_target_is(const struct linktab *t, const struct linkent *e,
		       const char *s);

struct linktab *linktab_ref(struct linktab *t);
void linktab_unref(struct linktab *t); /* NULL is fine */

#endif
