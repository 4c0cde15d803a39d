/* cache.c - TTL and ETag cache of API GETs, LRU-capped, single flight.
 *
 * Owns the entry table (uthash by key) and the LRU list, all protected by
 * cache.lock, which is never held across a fetch. Calls only the fetch
 * callback it was given, buf, clock and log. See cache.h for the behaviour.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "apisecfs/cache.h"
#include "apisecfs/clock.h"
#include "apisecfs/log.h"
#include "apisecfs/spill.h"

/* How long the platform is known down after it failed. Meanwhile cached
 * data is served at once, and an uncached read is let through as a probe,
 * one at a time (a half-open circuit): the first read after a recovery
 * works, and concurrent readers fail at once instead of piling up. After a
 * timeout a probe would cost a whole timeout, so then none is sent until
 * the pause is over. */
#define CACHE_OFFLINE_PROBE_MS 5000
/* Evicted list pages leave a ghost behind: key, ETag, version and the
 * memo (api.c keeps the page's nextToken there), ~0.5 KB, no body. A
 * relisting after the TTL then costs one 304 per page even when the pages
 * did not fit the cap, instead of downloading them all again. */
#define CACHE_GHOSTS_MAX 4096

struct entry {
	char *key;
	struct blob *body; /* NULL while the first fetch is in flight */
	char etag[HTTP_ETAG_MAX];
	char content_type[HTTP_CONTENT_TYPE_MAX];
	uint64_t version;
	long long expires_ms;
	bool loading;
	bool ghost;	    /* body evicted; key, etag, version, memo kept */
	size_t body_len;    /* of the last body, kept by ghosts: a refetch */
	uint64_t body_hash; /* with the same bytes keeps the version */
	char *memo;	    /* the caller's note about this version */
	uint64_t memo_version;
	uint64_t aux; /* and a number with it (a page's line bytes) */
	bool has_aux;
	struct blob *ids;     /* a list page's item ids (delta.h), kept by */
	uint64_t ids_version; /* ghosts, for this version */
	bool dirty; /* a change touched it since it was last validated */
	struct spill_ref spill; /* a ghost's bytes on disk (-o disk_cache) */
	uint64_t spill_hash;	/* body_hash of the bytes spilled */
	long long pinned_until; /* prefetched, not read yet: not evicted */
	/* LRU of bodies, or of ghosts: most recent first. */
	struct entry *prev, *next;
	UT_hash_handle hh;
};

/* cache.lock protects every field here and in every entry but opts (set
 * once before threads start). Never held across a fetch; under it only
 * spill.c's sp.lock (evicting to and reading back from the disk cache)
 * and log's stdio (cache_renew_prefix calls delta_verdict: no lock). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t loaded; /* broadcast when any fetch ends */
	struct entry *table;
	struct entry *lru_head, *lru_tail;
	struct entry *ghost_head, *ghost_tail;
	size_t ghosts;
	struct cache_opts opts;
	size_t bytes;
	uint64_t next_version;
	/* Bumped by every expire: a fetch that started before an expire may
	 * carry data from before the user's change, so it is stored as
	 * already expired (sshfs's write counter does the same). */
	uint64_t expire_gen;
	bool outage; /* a stale entry was served and not yet recovered */
	/* After a failure that says the platform is down, nothing is asked
	 * of it until this time: cached data is served at once and new data
	 * fails at once, so no operation waits out a timeout per request. */
	long long offline_until_ms;
	enum api_err offline_err;
	bool probing; /* an uncached read is probing the platform now */
	struct cache_stats stats;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .loaded = PTHREAD_COND_INITIALIZER };

int cache_init(const struct cache_opts *opts)
{
	if (!opts->fetch)
		return -1;
	cache.opts = *opts;
	/* Versions never repeat in a process, not even across a cleanup
	 * and a new init: parsed pages are kept by version (parsememo.h). */
	if (!cache.next_version)
		cache.next_version = 1;
	return 0;
}

/* ---- LRU (lock held) ---------------------------------------------- */

static void list_unlink(struct entry *e, struct entry **head,
			struct entry **tail)
{
	if (e->prev)
		e->prev->next = e->next;
	else if (*head == e)
		*head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else if (*tail == e)
		*tail = e->prev;
	e->prev = e->next = NULL;
}

static void list_push_front(struct entry *e, struct entry **head,
			    struct entry **tail)
{
	e->next = *head;
	e->prev = NULL;
	if (*head)
		(*head)->prev = e;
	*head = e;
	if (!*tail)
		*tail = e;
}

static void lru_unlink(struct entry *e)
{
	list_unlink(e, &cache.lru_head, &cache.lru_tail);
}

static void lru_push_front(struct entry *e)
{
	list_push_front(e, &cache.lru_head, &cache.lru_tail);
}

/* A ghost is about to hold a body again (or go): off the ghost list. */
static void unghost(struct entry *e)
{
	if (!e->ghost)
		return;
	list_unlink(e, &cache.ghost_head, &cache.ghost_tail);
	e->ghost = false;
	cache.ghosts--;
}

static void entry_free(struct entry *e)
{
	if (e->body) {
		lru_unlink(e);
		cache.bytes -= blob_footprint(e->body);
		blob_unref(e->body);
	}
	unghost(e);
	HASH_DEL(cache.table, e);
	blob_unref(e->ids);
	free(e->memo);
	free(e->key);
	free(e);
}

static bool memo_valid(const struct entry *e)
{
	return e->memo && e->memo_version == e->version;
}

/* Past the cap the oldest ghosts go; keep and those being fetched stay. */
static void trim_ghosts(const struct entry *keep)
{
	struct entry *g = cache.ghost_tail;
	while (cache.ghosts > CACHE_GHOSTS_MAX && g) {
		struct entry *prev = g->prev;
		if (g != keep && !g->loading)
			entry_free(g);
		g = prev;
	}
}

/* e (without a body now) goes on the ghost list. */
static void to_ghost(struct entry *e)
{
	e->ghost = true;
	list_push_front(e, &cache.ghost_head, &cache.ghost_tail);
	cache.ghosts++;
	trim_ghosts(e);
}

/* Drop e's body; keep the rest as a ghost if it has a memo worth it. */
static void evict_one(struct entry *e)
{
	cache.stats.evictions++;
	/* The same bytes are on disk already when they came back from it. */
	bool spilled = spill_valid(&e->spill) &&
		       e->spill_hash == e->body_hash &&
		       e->spill.len == e->body->len;
	if (!spilled && spill_put(e->body->data, e->body->len, &e->spill)) {
		e->spill_hash = e->body_hash;
		spilled = true;
	}
	if (!memo_valid(e) && !spilled) {
		entry_free(e);
		return;
	}
	lru_unlink(e);
	cache.bytes -= blob_footprint(e->body);
	blob_unref(e->body);
	e->body = NULL;
	to_ghost(e);
}

/* A ghost whose bytes are on disk gets them back (lock held): true if e
 * has a body now. Its version stays: the bytes are the same. */
static bool unspill(struct entry *e)
{
	if (e->body || !e->ghost || !e->spill.gen)
		return e->body != NULL;
	struct blob *b = spill_get(&e->spill); /* NULL if stale */
	if (!b || b->len != e->body_len ||
	    buf_digest(b->data, b->len) != e->body_hash) {
		blob_unref(b);
		return false;
	}
	unghost(e);
	e->body = b;
	lru_push_front(e);
	cache.bytes += blob_footprint(b);
	cache.stats.spill_reads++;
	return true;
}

/* Evict from the cold end until under the cap. Entries being fetched are
 * skipped: their waiters need them. keep is the entry just stored. */
static void evict(const struct entry *keep)
{
	struct entry *e = cache.lru_tail;
	while (cache.bytes > cache.opts.max_bytes && e) {
		struct entry *prev = e->prev;
		/* A page fetched ahead stays until its walk reads it (or a
		 * while): five walks' prefetches must not evict each other's
		 * before use in a small cache, or each is fetched twice. */
		if (e != keep && !e->loading && e->pinned_until <= clock_ms())
			evict_one(e);
		e = prev;
	}
}

static void doc_fill(struct cache_doc *out, const struct entry *e, bool stale)
{
	out->body = blob_ref(e->body);
	memcpy(out->etag, e->etag, sizeof(out->etag));
	memcpy(out->content_type, e->content_type, sizeof(out->content_type));
	out->version = e->version;
	out->stale = stale;
}

void cache_doc_release(struct cache_doc *doc)
{
	blob_unref(doc->body);
	doc->body = NULL;
}

/* ---- get ---------------------------------------------------------- */

static bool stale_ok(enum api_err err)
{
	return err == API_E_TRANSPORT || err == API_E_TIMEOUT ||
	       err == API_E_SERVER || err == API_E_RATE_LIMITED ||
	       err == API_E_BAD_RESPONSE;
}

/* Store a successful response into e (lock held). */
static void store(struct entry *e, struct http_resp *rs, uint64_t gen)
{
	long long expires = clock_ms() + cache.opts.ttl_ms;
	if (gen != cache.expire_gen)
		expires = 0;
	e->dirty = false;
	if (rs->status == 304 && e->body) {
		cache.stats.revalidated++;
		e->expires_ms = expires;
		return;
	}
	struct blob *nb =
		blob_new(rs->body.data ? rs->body.data : "", rs->body.len);
	if (!nb)
		return; /* keep what we had; caller sees the old bytes */
	uint64_t h = buf_digest(nb->data, nb->len);
	if (e->body && blob_equal(e->body, nb)) {
		blob_unref(nb); /* same bytes: keep version and identity */
	} else {
		/* A ghost's bytes came back unchanged: same version, so the
		 * listings built from it stay "unchanged". */
		bool same = e->ghost && e->body_len == nb->len &&
			    e->body_hash == h;
		unghost(e);
		if (e->body) {
			cache.bytes -= blob_footprint(e->body);
			blob_unref(e->body);
		} else {
			lru_push_front(e);
		}
		e->body = nb;
		if (!same)
			e->version = cache.next_version++;
		e->body_len = nb->len;
		e->body_hash = h;
		cache.bytes += blob_footprint(nb);
	}
	snprintf(e->etag, sizeof(e->etag), "%s", rs->etag);
	snprintf(e->content_type, sizeof(e->content_type), "%s",
		 rs->content_type);
	e->expires_ms = expires;
}

/* cache_get, and with pin_ms the body kept through evictions for that
 * long (cache_prefetch), set in the same hold of the lock as the store:
 * no other thread's eviction can come between. */
static enum api_err get(const char *key, struct cache_doc *out,
			struct api_status *st, long long pin_ms)
{
	struct entry *e;
	char etag[HTTP_ETAG_MAX];

	pthread_mutex_lock(&cache.lock);
	for (;;) {
		HASH_FIND_STR(cache.table, key, e);
		/* A fresh ghost (renewed by a round of changes) or one the
		 * platform may answer 304 for: its bytes from the disk. */
		if (e && !e->loading && unspill(e))
			evict(e);
		if (e && e->body && !e->loading &&
		    clock_ms() < e->expires_ms) {
			cache.stats.hits++;
			e->pinned_until = pin_ms ? clock_ms() + pin_ms : 0;
			lru_unlink(e);
			lru_push_front(e);
			doc_fill(out, e, false);
			pthread_mutex_unlock(&cache.lock);
			return API_OK;
		}
		if (!e || !e->loading)
			break;
		pthread_cond_wait(&cache.loaded, &cache.lock);
	}
	bool probe = false;
	if (clock_ms() < cache.offline_until_ms && !(e && e->body) &&
	    !cache.probing && cache.offline_err != API_E_TIMEOUT) {
		probe = true; /* half-open: this read asks for everyone */
		cache.probing = true;
	} else if (clock_ms() < cache.offline_until_ms) {
		enum api_err result = cache.offline_err;
		if (e && e->body) {
			cache.stats.stale_served++;
			doc_fill(out, e, true);
			result = API_OK;
		} else if (st) {
			memset(st, 0, sizeof(*st));
			snprintf(st->detail, sizeof(st->detail),
				 "platform offline, next try in %lld ms",
				 cache.offline_until_ms - clock_ms());
		}
		pthread_mutex_unlock(&cache.lock);
		return result;
	}
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->key = strdup(key))) {
			free(e);
			pthread_mutex_unlock(&cache.lock);
			return API_E_NOMEM;
		}
		HASH_ADD_KEYPTR(hh, cache.table, e->key, strlen(e->key), e);
	}
	e->loading = true;
	cache.stats.misses++;
	snprintf(etag, sizeof(etag), "%s", e->body ? e->etag : "");
	uint64_t gen = cache.expire_gen;
	pthread_mutex_unlock(&cache.lock);

	struct http_resp rs;
	/* A probe is one try: a platform that refuses answers at once, and
	 * a grep -r while it is down costs a refused connection a file. */
	enum api_err result =
		cache.opts.fetch(key, etag[0] ? etag : NULL, probe, &rs);

	pthread_mutex_lock(&cache.lock);
	e->loading = false;
	if (probe)
		cache.probing = false;
	pthread_cond_broadcast(&cache.loaded);
	if (result == API_OK) {
		store(e, &rs, gen);
		if (cache.outage)
			log_info("platform reachable again: serving fresh "
				 "data");
		cache.outage = false;
		cache.offline_until_ms = 0;
	} else if (stale_ok(result) && result != API_E_RATE_LIMITED &&
		   result != API_E_BAD_RESPONSE) {
		cache.offline_until_ms = clock_ms() + CACHE_OFFLINE_PROBE_MS;
		cache.offline_err = result;
	}
	if (result == API_OK && e->body) {
		if (pin_ms)
			e->pinned_until = clock_ms() + pin_ms;
		doc_fill(out, e, false);
		evict(e);
	} else if (result != API_OK && e->body && stale_ok(result)) {
		cache.stats.stale_served++;
		if (!cache.outage)
			log_warn("platform failing (%s): serving cached data "
				 "past its TTL until it recovers",
				 errmap_str(result));
		cache.outage = true;
		doc_fill(out, e, true);
		result = API_OK;
	} else {
		if (st)
			*st = rs.st;
		if (result == API_OK)
			result = API_E_NOMEM;
		if (!e->body)
			entry_free(e);
	}
	pthread_mutex_unlock(&cache.lock);
	http_resp_free(&rs);
	return result;
}

enum api_err cache_get(const char *key, struct cache_doc *out,
		       struct api_status *st)
{
	return get(key, out, st, 0);
}

enum api_err cache_prefetch(const char *key, long long pin_ms,
			    struct api_status *st)
{
	struct cache_doc doc;
	enum api_err r = get(key, &doc, st, pin_ms);
	if (r == API_OK)
		cache_doc_release(&doc);
	return r;
}

/* ---- memos: a page's version and note without its body --------------- */

/* Lock held: *meta from e, whose memo is valid. */
static enum api_err meta_of(const struct entry *e, struct cache_meta *meta)
{
	meta->version = e->version;
	meta->has_aux = e->has_aux;
	meta->aux = e->aux;
	meta->memo = strdup(e->memo);
	return meta->memo ? API_OK : API_E_NOMEM;
}

enum api_err cache_get_meta(const char *key, struct cache_meta *meta,
			    struct cache_doc *doc, struct api_status *st)
{
	struct entry *e;
	char etag[HTTP_ETAG_MAX];
	memset(meta, 0, sizeof(*meta));
	doc->body = NULL;
	pthread_mutex_lock(&cache.lock);
	for (;;) {
		HASH_FIND_STR(cache.table, key, e);
		if (!e || !e->loading)
			break;
		pthread_cond_wait(&cache.loaded, &cache.lock);
	}
	bool fresh = e && clock_ms() < e->expires_ms;
	bool offline = clock_ms() < cache.offline_until_ms;
	if (e && memo_valid(e) && (fresh || (e->ghost && offline))) {
		/* Fresh; or a ghost while the platform is down: its version
		 * stands, like stale-if-error for bodies. */
		cache.stats.hits++;
		enum api_err r = meta_of(e, meta);
		pthread_mutex_unlock(&cache.lock);
		return r;
	}
	if (!e || !e->ghost || !memo_valid(e) || offline) {
		pthread_mutex_unlock(&cache.lock);
		return cache_get(key, doc, st); /* the body is needed */
	}
	/* An expired ghost: ask whether its version still stands. */
	e->loading = true;
	cache.stats.misses++;
	snprintf(etag, sizeof(etag), "%s", e->etag);
	uint64_t gen = cache.expire_gen;
	pthread_mutex_unlock(&cache.lock);

	struct http_resp rs;
	enum api_err result = cache.opts.fetch(key, etag, false, &rs);

	pthread_mutex_lock(&cache.lock);
	e->loading = false;
	pthread_cond_broadcast(&cache.loaded);
	if (result == API_OK && rs.status == 304) {
		cache.stats.revalidated++;
		e->dirty = false;
		e->expires_ms = gen == cache.expire_gen
					? clock_ms() + cache.opts.ttl_ms
					: 0;
		result = meta_of(e, meta);
	} else if (result == API_OK) {
		store(e, &rs, gen);
		if (e->body) {
			doc_fill(doc, e, false);
			evict(e);
		} else {
			result = API_E_NOMEM;
		}
	} else if (st) {
		*st = rs.st;
	}
	pthread_mutex_unlock(&cache.lock);
	http_resp_free(&rs);
	return result;
}

/* A ghost for doc, whose entry was evicted before its memo came (lock
 * held): small pages under a tiny cap go that fast. */
static struct entry *ghost_from(const char *key, const struct cache_doc *doc)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return NULL;
	}
	memcpy(e->etag, doc->etag, sizeof(e->etag));
	memcpy(e->content_type, doc->content_type, sizeof(e->content_type));
	e->version = doc->version;
	e->body_len = doc->body->len;
	e->body_hash = buf_digest(doc->body->data, doc->body->len);
	e->expires_ms = clock_ms() + cache.opts.ttl_ms; /* just fetched */
	HASH_ADD_KEYPTR(hh, cache.table, e->key, strlen(e->key), e);
	to_ghost(e);
	return e;
}

void cache_set_memo(const char *key, const struct cache_doc *doc,
		    const char *memo, const uint64_t *aux)
{
	struct entry *e;
	pthread_mutex_lock(&cache.lock);
	HASH_FIND_STR(cache.table, key, e);
	if (!e && doc->body && doc->etag[0] && !doc->stale)
		e = ghost_from(key, doc);
	if (e && e->version == doc->version &&
	    !(e->memo && e->memo_version == doc->version &&
	      strcmp(e->memo, memo) == 0)) {
		char *m = strdup(memo);
		if (m) {
			free(e->memo);
			e->memo = m;
			e->memo_version = doc->version;
			e->has_aux = false;
		}
	}
	if (e && aux && e->memo && e->memo_version == doc->version) {
		e->aux = *aux;
		e->has_aux = true;
	}
	if (e && !e->memo && !e->body && !e->loading)
		entry_free(e); /* a ghost without a memo is of no use */
	pthread_mutex_unlock(&cache.lock);
}

void cache_set_ids(const char *key, const struct cache_doc *doc,
		   struct blob *ids)
{
	struct entry *e;
	pthread_mutex_lock(&cache.lock);
	HASH_FIND_STR(cache.table, key, e);
	if (e && e->version == doc->version) {
		blob_unref(e->ids);
		e->ids = ids;
		e->ids_version = doc->version;
		ids = NULL;
	}
	pthread_mutex_unlock(&cache.lock);
	blob_unref(ids);
}

bool cache_aux_of(const char *key, uint64_t version, uint64_t *aux)
{
	struct entry *e;
	bool known = false;
	pthread_mutex_lock(&cache.lock);
	HASH_FIND_STR(cache.table, key, e);
	if (e && e->has_aux && memo_valid(e) && e->memo_version == version) {
		*aux = e->aux;
		known = true;
	}
	pthread_mutex_unlock(&cache.lock);
	return known;
}

bool cache_offline(void)
{
	pthread_mutex_lock(&cache.lock);
	bool off = clock_ms() < cache.offline_until_ms;
	pthread_mutex_unlock(&cache.lock);
	return off;
}

uint64_t cache_generation(void)
{
	pthread_mutex_lock(&cache.lock);
	uint64_t g = cache.expire_gen;
	pthread_mutex_unlock(&cache.lock);
	return g;
}

size_t cache_renew_prefix(const char *prefix, uint64_t gen, cache_renew_fn fn,
			  void *ud)
{
	size_t n = strlen(prefix), renewed = 0;
	struct entry *e, *tmp;
	pthread_mutex_lock(&cache.lock);
	if (gen != cache.expire_gen) {
		/* Something expired the cache since the caller looked at the
		 * platform: what it learned may predate that; renew nothing. */
		pthread_mutex_unlock(&cache.lock);
		return 0;
	}
	long long expires = clock_ms() + cache.opts.ttl_ms;
	HASH_ITER (hh, cache.table, e, tmp) {
		if (e->loading || e->dirty || strncmp(e->key, prefix, n) != 0)
			continue;
		const char *memo = memo_valid(e) ? e->memo : NULL;
		const struct blob *ids =
			e->ids && e->ids_version == e->version ? e->ids : NULL;
		int verdict = fn(e->key, memo, ids, ud);
		if (verdict > 0) {
			e->expires_ms = expires;
			renewed++;
		} else if (verdict < 0) {
			e->dirty = true;
			e->expires_ms = 0;
		}
	}
	pthread_mutex_unlock(&cache.lock);
	return renewed;
}

/* ---- invalidation and stats --------------------------------------- */

void cache_expire_prefix(const char *prefix)
{
	size_t n = strlen(prefix);
	struct entry *e, *tmp;
	pthread_mutex_lock(&cache.lock);
	cache.expire_gen++;
	HASH_ITER (hh, cache.table, e, tmp) {
		if (strncmp(e->key, prefix, n) == 0)
			e->expires_ms = 0;
	}
	pthread_mutex_unlock(&cache.lock);
}

void cache_age_prefix(const char *prefix)
{
	size_t n = strlen(prefix);
	struct entry *e, *tmp;
	pthread_mutex_lock(&cache.lock);
	HASH_ITER (hh, cache.table, e, tmp) {
		if (strncmp(e->key, prefix, n) == 0)
			e->expires_ms = 0;
	}
	pthread_mutex_unlock(&cache.lock);
}

void cache_clear(void)
{
	struct entry *e, *tmp;
	pthread_mutex_lock(&cache.lock);
	cache.expire_gen++;
	HASH_ITER (hh, cache.table, e, tmp) {
		if (!e->loading)
			entry_free(e);
	}
	pthread_mutex_unlock(&cache.lock);
}

void cache_cleanup(void)
{
	cache_clear();
}

void cache_get_stats(struct cache_stats *out)
{
	pthread_mutex_lock(&cache.lock);
	*out = cache.stats;
	out->entries = HASH_COUNT(cache.table);
	out->bytes = cache.bytes;
	out->max_bytes = cache.opts.max_bytes;
	pthread_mutex_unlock(&cache.lock);
}
