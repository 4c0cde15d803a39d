/* prefetch.h - the next page of a list, fetched while this one is parsed.
 *
 * A list's pages come one after another (each nextToken is in the page
 * before it), so a walk would wait the platform's latency once a page and
 * parse in between. Once a page is parsed its successor's key is known: a
 * worker asks the cache for it while the walk renders this page, and the
 * walk's own cache_get of it then waits for that fetch (the cache loads a
 * key once). Best effort: a full queue or a failed fetch only means the
 * walk fetches the page itself, as it would have.
 */
#ifndef APISECFS_PREFETCH_H
#define APISECFS_PREFETCH_H

/* Queue a cache_get of key (copied); the workers start on first use. */
void prefetch_page(const char *key);
/* The walk asks for key itself now: a prefetch of it still queued would
 * only fetch it again after the walk (a small cache has dropped it). */
void prefetch_cancel(const char *key);
/* Stop the workers (a fetch in flight ends first); later calls queue
 * nothing. Before cache_cleanup. */
void prefetch_stop(void);

#endif
