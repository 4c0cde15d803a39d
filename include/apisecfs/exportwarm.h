/* exportwarm.h - the export's readers ahead: the requests a tree needs,
 * made before the writers get there.
 *
 * The writers (export.c) interleave requests with local work: while they
 * write a directory of 2,000 findings or 10,000 view links, no request is
 * in flight. A few threads walk the same tree breadth first and ask for
 * every listing and every file whose bytes need a request (per-scan
 * reports, specs, the lists a view is made from), so the pages are in the
 * API cache and the page store when the writers look. They write nothing:
 * what they fetch only warms the caches, and concurrent asks for one page
 * wait for one request (cache.h), so the requests of a run, 200s and 304s,
 * are the same in number as without them.
 *
 * A failure here is never the run's: the writer that reaches the same
 * entry asks again and reports it. The first failure of the platform
 * stops the walk, so a failing platform is not asked more than the
 * writers ask it. Calls tree only.
 */
#ifndef APISECFS_EXPORTWARM_H
#define APISECFS_EXPORTWARM_H

#include <stddef.h>

#include <fuse_lowlevel.h>

/* Start threads walking from the root, or from the n directories dirs
 * (each holding a lookup, handed over) when n > 0. Returns how many
 * threads started (0: none; the lookups are then forgotten). */
unsigned exportwarm_start(unsigned threads, const fuse_ino_t *dirs, size_t n);
/* Stop the walk (where it is) and wait for the threads; forgets every
 * lookup the walk holds. Safe to call when none was started. */
void exportwarm_stop(void);

#endif
