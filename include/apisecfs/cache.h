/* cache.h - TTL and ETag cache of API GET responses.
 *
 * Keys are request paths with their query ("/v1/scans?limit=500"). An entry
 * holds the body as an immutable blob, its ETag and when it was fetched.
 * Within the TTL a hit costs no request; past it the entry is revalidated
 * with If-None-Match (a 304 keeps the bytes). Concurrent misses on one key
 * wait for the first request (single flight). When the platform fails with
 * a transport error, a timeout or a 5xx, an expired entry is served stale
 * and a warning is logged once per outage. Total body bytes are capped: the
 * least recently used entries are evicted past the cap.
 *
 * The fetch itself is a callback (api.c supplies it, adding the credential),
 * so this module never sees a secret. One mutex guards the table; it is
 * never held across a fetch.
 */
#ifndef APISECFS_CACHE_H
#define APISECFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apisecfs/buf.h"
#include "apisecfs/errmap.h"
#include "apisecfs/http.h"

/* Fetch key; etag is the cached ETag to send as If-None-Match, or NULL.
 * once: a probe of a platform known to be down, tried once without
 * retries. Fills rs like http_do (the caller frees it). */
typedef enum api_err (*cache_fetch_fn)(const char *key, const char *etag,
				       bool once, struct http_resp *rs);

struct cache_opts {
	long long ttl_ms;     /* freshness lifetime of an entry */
	size_t max_bytes;     /* cap on the sum of cached bodies */
	cache_fetch_fn fetch; /* time: clock_ms(), which tests can fake */
};

/* A cached document, shared read-only with the caller. */
struct cache_doc {
	struct blob *body;
	char etag[HTTP_ETAG_MAX];
	char content_type[HTTP_CONTENT_TYPE_MAX];
	uint64_t version; /* grows each time the bytes change */
	bool stale;	  /* served past its TTL because the platform failed */
};

int cache_init(const struct cache_opts *opts)
	__attribute__((warn_unused_result));
void cache_cleanup(void);

/* Get key, fetching or revalidating as needed. On API_OK *out holds a doc
 * the caller releases with cache_doc_release. On error st says why and
 * *out is untouched. */
enum api_err cache_get(const char *key, struct cache_doc *out,
		       struct api_status *st)
	__attribute__((warn_unused_result));
void cache_doc_release(struct cache_doc *doc);
/* cache_get for a page fetched ahead of the walk that will read it: its
 * body is kept through evictions for pin_ms, or until the next cache_get
 * of it. */
enum api_err cache_prefetch(const char *key, long long pin_ms,
			    struct api_status *st);

/* A note about the version of key in doc (api.c keeps a list page's
 * nextToken), kept even after the body is evicted: the entry stays as a
 * ghost (key, ETag, version, memo; bounded in number). */
void cache_set_memo(const char *key, const struct cache_doc *doc,
		    const char *memo, const uint64_t *aux);
struct cache_meta {
	char *memo; /* malloc'd; NULL when doc was filled instead */
	uint64_t version;
	uint64_t aux; /* the number set with the memo, if has_aux */
	bool has_aux;
};
/* key's version and memo when that is enough: while fresh, or after a 304
 * to If-None-Match with a ghost's ETag, meta->memo is a malloc'd copy and
 * no body is fetched. Otherwise, as cache_get: meta->memo stays NULL and
 * doc holds the body (release it). */
enum api_err cache_get_meta(const char *key, struct cache_meta *meta,
			    struct cache_doc *doc, struct api_status *st)
	__attribute__((warn_unused_result));

/* The item ids of the list page key in doc's version (a delta.h filter;
 * the reference is taken), kept with its memo, by ghosts too. */
void cache_set_ids(const char *key, const struct cache_doc *doc,
		   struct blob *ids);
/* The number kept with key's memo for that version, if there is one. */
bool cache_aux_of(const char *key, uint64_t version, uint64_t *aux);
/* Is the platform being left alone after a failure (see above)? */
bool cache_offline(void);
/* Grows with every expiry: compare before and after learning something
 * from the platform, as cache_renew_prefix does. */
uint64_t cache_generation(void);
/* Decide about one entry: > 0 it is still right (fresh for another TTL),
 * < 0 a change touched it (expired, and never renewed until it has been
 * validated again), 0 no opinion. memo and ids as kept (NULL if none). */
typedef int (*cache_renew_fn)(const char *key, const char *memo,
			      const struct blob *ids, void *ud);
/* Ask fn about every entry whose key starts with prefix; nothing if the
 * cache was expired since generation gen. Called with the cache's lock
 * held: fn must not call the cache. Returns how many were renewed. */
size_t cache_renew_prefix(const char *prefix, uint64_t gen, cache_renew_fn fn,
			  void *ud);
/* Expire (not drop) every entry whose key starts with prefix, so the next
 * get revalidates it; "" expires everything. Used after the user's own
 * actions and by the refresh control. */
void cache_expire_prefix(const char *prefix);
/* The same, for freshness alone (no action behind it): fetches already
 * under way still store what they get as fresh. */
void cache_age_prefix(const char *prefix);
/* Drop every entry (memory back). */
void cache_clear(void);

struct cache_stats {
	size_t entries, bytes, max_bytes;
	unsigned long hits, misses, revalidated, stale_served, evictions;
	unsigned long
		spill_reads; /* ghosts given their bytes back from disk */
};
void cache_get_stats(struct cache_stats *out);

#endif
