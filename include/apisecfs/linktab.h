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

#include <stddef.h>
#include <time.h>

#include "apisecfs/kind.h"

struct linkent {
	const char *name;
	const char *target;
	time_t mtime;
};

struct linktab {
	int refs; /* atomic */
	const struct kind *kind; /* of every link */
	size_t n;
	struct linkent *v; /* sorted by name */
	char *strings;
};

/* The links among l's entries (KIND_LINK), or NULL if there are none or
 * memory is short (*nomem then set). */
struct linktab *linktab_from_listing(const struct listing *l, bool *nomem);
const struct linkent *linktab_find(const struct linktab *t,
				   const char *name);
struct linktab *linktab_ref(struct linktab *t);
void linktab_unref(struct linktab *t); /* NULL is fine */

#endif
