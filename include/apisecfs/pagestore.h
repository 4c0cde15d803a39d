/* pagestore.h - the GET responses an export keeps from one run to the next.
 *
 * apisecfs --export writes DIR/.apisecfs-export/pages/: one file a request
 * path, holding the path, its ETag, content type and body, written by
 * atomic rename with mode 0600. The store sits in front of the API cache as
 * its fetch callback (cache.h): a path the cache has no ETag for is asked
 * with the stored ETag, and a 304 answers with the stored body, so an
 * unchanged page costs one 304 and no download. Within one run a path the
 * platform already answered is served from the store without a request,
 * so an API cache smaller than the data (-o cache_size) still costs one
 * request a page. Bodies are read from disk one at a time: memory holds
 * only the paths seen (a hash and an ETag each).
 *
 * Keys are request paths and bodies are API answers: no credential ever
 * reaches the store (the Authorization header is added below it).
 * Thread-safe; no lock is held across a request or disk I/O.
 */
#ifndef APISECFS_PAGESTORE_H
#define APISECFS_PAGESTORE_H

#include <stdbool.h>

#include "apisecfs/cache.h"

/* Open the store in directory dirfd (the export's state directory; the
 * descriptor is borrowed until pagestore_close). next is the real fetch
 * (api_fetch). With reset, pages kept before are dropped (another URL).
 * Returns 0 or -errno. */
int pagestore_open(int dirfd, cache_fetch_fn next, bool reset)
	__attribute__((warn_unused_result));
/* The cache's fetch callback: next, through the store (once: as
 * cache_fetch_fn). */
enum api_err pagestore_fetch(const char *key, const char *etag, bool once,
			     struct http_resp *rs);
/* After a complete run: remove the pages no request of this run asked
 * for (the platform no longer has them). Returns 0 or -errno. */
int pagestore_prune(void) __attribute__((warn_unused_result));
void pagestore_close(void);

struct pagestore_stats {
	unsigned long requests;	    /* sent to the platform */
	unsigned long not_modified; /* 304s answered from the store */
	unsigned long local;	    /* answered again without a request */
	unsigned long saved;	    /* bodies written */
	unsigned long unauth;	    /* 401s: the credential was refused */
};
void pagestore_get_stats(struct pagestore_stats *out);

#endif
