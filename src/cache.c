/* cache.c - TTL and ETag cache of API GETs, LRU-capped, single flight.
 *
 * Owns the entry table (uthash by key) and the LRU list, all protected by
 * cache.lock, which is never held across a fetch. Calls only the fetch
 * callback it was given, buf and log. See cache.h for the behaviour.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uthash.h>

#include "apisecfs/cache.h"
#include "apisecfs/log.h"

/* How long the platform is left alone after it failed before one request
 * probes it again. */
#define CACHE_OFFLINE_PROBE_MS 5000

struct entry {
	char *key;
	struct blob *body; /* NULL while the first fetch is in flight */
	char etag[160];
	char content_type[96];
	uint64_t version;
	long long expires_ms;
	bool loading;
	struct entry *prev, *next; /* LRU, most recent first; body only */
	UT_hash_handle hh;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t loaded; /* broadcast when any fetch ends */
	struct entry *table;
	struct entry *lru_head, *lru_tail;
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
	struct cache_stats stats;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .loaded = PTHREAD_COND_INITIALIZER };

static long long monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long long now_ms(void)
{
	return cache.opts.clock ? cache.opts.clock() : monotonic_ms();
}

int cache_init(const struct cache_opts *opts)
{
	if (!opts->fetch)
		return -1;
	cache.opts = *opts;
	cache.next_version = 1;
	return 0;
}

/* ---- LRU (lock held) ---------------------------------------------- */

static void lru_unlink(struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else if (cache.lru_head == e)
		cache.lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else if (cache.lru_tail == e)
		cache.lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct entry *e)
{
	e->next = cache.lru_head;
	e->prev = NULL;
	if (cache.lru_head)
		cache.lru_head->prev = e;
	cache.lru_head = e;
	if (!cache.lru_tail)
		cache.lru_tail = e;
}

static void entry_free(struct entry *e)
{
	if (e->body) {
		lru_unlink(e);
		cache.bytes -= e->body->len;
		blob_unref(e->body);
	}
	HASH_DEL(cache.table, e);
	free(e->key);
	free(e);
}

/* Evict from the cold end until under the cap. Entries being fetched are
 * skipped: their waiters need them. keep is the entry just stored. */
static void evict(const struct entry *keep)
{
	struct entry *e = cache.lru_tail;
	while (cache.bytes > cache.opts.max_bytes && e) {
		struct entry *prev = e->prev;
		if (e != keep && !e->loading) {
			entry_free(e);
			cache.stats.evictions++;
		}
		e = prev;
	}
}

static void doc_fill(struct cache_doc *out, const struct entry *e,
		     bool stale)
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
	long long expires = now_ms() + cache.opts.ttl_ms;
	if (gen != cache.expire_gen)
		expires = 0;
	if (rs->status == 304 && e->body) {
		cache.stats.revalidated++;
		e->expires_ms = expires;
		return;
	}
	struct blob *nb = blob_new(rs->body.data ? rs->body.data : "",
				   rs->body.len);
	if (!nb)
		return; /* keep what we had; caller sees the old bytes */
	if (e->body && blob_equal(e->body, nb)) {
		blob_unref(nb); /* same bytes: keep version and identity */
	} else {
		if (e->body) {
			cache.bytes -= e->body->len;
			blob_unref(e->body);
		} else {
			lru_push_front(e);
		}
		e->body = nb;
		e->version = cache.next_version++;
		cache.bytes += nb->len;
	}
	snprintf(e->etag, sizeof(e->etag), "%s", rs->etag);
	snprintf(e->content_type, sizeof(e->content_type), "%s",
		 rs->content_type);
	e->expires_ms = expires;
}

enum api_err cache_get(const char *key, struct cache_doc *out,
		       struct api_status *st)
{
	struct entry *e;
	char etag[160];

	pthread_mutex_lock(&cache.lock);
	for (;;) {
		HASH_FIND_STR(cache.table, key, e);
		if (e && e->body && !e->loading && now_ms() < e->expires_ms) {
			cache.stats.hits++;
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
	if (now_ms() < cache.offline_until_ms) {
		enum api_err result = cache.offline_err;
		if (e && e->body) {
			cache.stats.stale_served++;
			doc_fill(out, e, true);
			result = API_OK;
		} else if (st) {
			memset(st, 0, sizeof(*st));
			snprintf(st->detail, sizeof(st->detail),
				 "platform offline, next try in %lld ms",
				 cache.offline_until_ms - now_ms());
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
	enum api_err result = cache.opts.fetch(key, etag[0] ? etag : NULL,
					       &rs);

	pthread_mutex_lock(&cache.lock);
	e->loading = false;
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
		cache.offline_until_ms = now_ms() + CACHE_OFFLINE_PROBE_MS;
		cache.offline_err = result;
	}
	if (result == API_OK && e->body) {
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

/* ---- invalidation and stats --------------------------------------- */

void cache_expire_prefix(const char *prefix)
{
	size_t n = strlen(prefix);
	struct entry *e, *tmp;
	pthread_mutex_lock(&cache.lock);
	cache.expire_gen++;
	HASH_ITER(hh, cache.table, e, tmp) {
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
	HASH_ITER(hh, cache.table, e, tmp) {
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
	pthread_mutex_unlock(&cache.lock);
}
