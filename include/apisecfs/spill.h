/* spill.h - list pages evicted from memory, kept in an unnamed file.
 *
 * Past cache_size, list pages leave memory (cache.c keeps a ghost: key,
 * ETag, version, nextToken). A listing rebuilt after one change would then
 * download every evicted page again (~200 requests at 100,000 findings
 * and the default cache_size). With -o disk_cache=MIB the page's bytes go
 * to a file instead, and come back from it while the ghost is fresh or
 * when the platform answers 304. The file has no name (O_TMPFILE, or
 * unlinked at once), mode 0600, in $TMPDIR or /var/tmp: it vanishes with
 * the process, and no other user can open it. It is written front to
 * back; when full it starts over and every earlier reference goes stale
 * (a generation count), so it never holds more than its cap.
 */
#ifndef APISECFS_SPILL_H
#define APISECFS_SPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "apisecfs/buf.h"

struct spill_ref {
	uint64_t gen; /* 0: nothing spilled */
	off_t off;
	size_t len;
};

/* Open the file with room for cap bytes (0: spilling off). 0, or -errno
 * (the file could not be made). */
int spill_init(size_t cap);
void spill_cleanup(void);
/* Write len bytes; *ref says where. False when off, too big or failed. */
bool spill_put(const void *data, size_t len, struct spill_ref *ref);
/* Is ref still backed by the file's bytes? */
bool spill_valid(const struct spill_ref *ref);
/* The bytes ref points to, as a new blob; NULL if stale or on errors. */
struct blob *spill_get(const struct spill_ref *ref);

#endif
