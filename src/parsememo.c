/* parsememo.c - parsed list pages, shared by every walker of one version.
 *
 * Owns the table of kept trees (uthash by page key, one version a key)
 * and their LRU list, all under memo.lock, a leaf never held across a
 * parse. A tree lives while the table or a walker holds it (refs); the
 * one who drops the last reference frees its arena. See parsememo.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "apisecfs/json.h"
#include "apisecfs/parsememo.h"

struct parsememo_ref {
	char *key;
	uint64_t version;
	cJSON *tree;
	struct json_arena *arena;
	size_t bytes;
	unsigned refs; /* memo.lock: walkers holding it, +1 while in the
			* table and the LRU list */
	struct parsememo_ref *prev, *next; /* memo.lock: LRU, newest first */
	UT_hash_handle hh;
};

static struct {
	pthread_mutex_t lock;			       /* a leaf */
	struct parsememo_ref *table, *newest, *oldest; /* lock */
	size_t bytes, max_bytes;		       /* lock */
	unsigned long parses, hits;		       /* lock */
} memo = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void destroy(struct parsememo_ref *r)
{
	json_arena_free(r->arena);
	free(r->key);
	free(r);
}

/* Under memo.lock. Returns whether r is to be destroyed (no holder). */
static bool unkeep_locked(struct parsememo_ref *r)
{
	HASH_DEL(memo.table, r);
	if (r->prev)
		r->prev->next = r->next;
	else
		memo.newest = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		memo.oldest = r->prev;
	r->prev = r->next = NULL;
	memo.bytes -= r->bytes;
	return --r->refs == 0;
}

static void touch_locked(struct parsememo_ref *r)
{
	if (memo.newest == r)
		return;
	r->prev->next = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		memo.oldest = r->prev;
	r->prev = NULL;
	r->next = memo.newest;
	memo.newest->prev = r;
	memo.newest = r;
}

/* Under memo.lock: keep r (refs taken for the table), evicting the
 * oldest trees beyond the budget; those no walker holds are chained on
 * *dead for the caller to destroy outside the lock. */
static void keep_locked(struct parsememo_ref *r, struct parsememo_ref **dead)
{
	HASH_ADD_KEYPTR(hh, memo.table, r->key, strlen(r->key), r);
	r->refs++;
	r->next = memo.newest;
	if (memo.newest)
		memo.newest->prev = r;
	memo.newest = r;
	if (!memo.oldest)
		memo.oldest = r;
	memo.bytes += r->bytes;
	while (memo.bytes > memo.max_bytes && memo.oldest) {
		struct parsememo_ref *old = memo.oldest;
		if (unkeep_locked(old)) {
			old->next = *dead;
			*dead = old;
		}
	}
}

static void destroy_chain(struct parsememo_ref *dead)
{
	while (dead) {
		struct parsememo_ref *next = dead->next;
		destroy(dead);
		dead = next;
	}
}

void parsememo_init(size_t max_bytes)
{
	pthread_mutex_lock(&memo.lock);
	memo.max_bytes = max_bytes;
	pthread_mutex_unlock(&memo.lock);
}

void parsememo_cleanup(void)
{
	struct parsememo_ref *dead = NULL;
	pthread_mutex_lock(&memo.lock);
	while (memo.oldest) {
		struct parsememo_ref *old = memo.oldest;
		if (unkeep_locked(old)) {
			old->next = dead;
			dead = old;
		}
	}
	memo.parses = memo.hits = 0;
	pthread_mutex_unlock(&memo.lock);
	destroy_chain(dead);
}

const cJSON *parsememo_get(const char *key, uint64_t version, const char *data,
			   size_t len, struct parsememo_ref **ref)
{
	struct parsememo_ref *r, *dead = NULL;
	*ref = NULL;
	pthread_mutex_lock(&memo.lock);
	HASH_FIND_STR(memo.table, key, r);
	if (r && r->version == version) {
		r->refs++;
		memo.hits++;
		touch_locked(r);
		pthread_mutex_unlock(&memo.lock);
		json_arena_adopt(r->arena);
		*ref = r;
		return r->tree;
	}
	memo.parses++;
	pthread_mutex_unlock(&memo.lock);

	/* Parsed outside the lock: two walkers missing at once may both
	 * parse; the second to finish keeps the first's tree. */
	r = calloc(1, sizeof(*r));
	if (r && !(r->key = strdup(key))) {
		free(r);
		r = NULL;
	}
	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	struct json_arena *arena;
	cJSON *tree = json_parse_page(data, len, &arena);
	if (!tree) {
		destroy(r);
		errno = EINVAL;
		return NULL;
	}
	r->version = version;
	r->tree = tree;
	r->arena = arena;
	r->bytes = json_arena_bytes(arena) + strlen(key);
	r->refs = 1;

	pthread_mutex_lock(&memo.lock);
	struct parsememo_ref *cur;
	HASH_FIND_STR(memo.table, key, cur);
	if (cur && cur->version == version) {
		/* Another walker kept this version meanwhile: use it. */
		cur->refs++;
		touch_locked(cur);
		pthread_mutex_unlock(&memo.lock);
		json_arena_unadopt(arena);
		destroy(r);
		json_arena_adopt(cur->arena);
		*ref = cur;
		return cur->tree;
	}
	if (cur && unkeep_locked(cur)) { /* an older version */
		cur->next = dead;
		dead = cur;
	}
	if (r->bytes <= memo.max_bytes)
		keep_locked(r, &dead);
	pthread_mutex_unlock(&memo.lock);
	destroy_chain(dead);
	*ref = r; /* json_parse_page adopted it on this thread */
	return r->tree;
}

void parsememo_put(struct parsememo_ref *r)
{
	if (!r)
		return;
	json_arena_unadopt(r->arena);
	pthread_mutex_lock(&memo.lock);
	bool last = --r->refs == 0;
	pthread_mutex_unlock(&memo.lock);
	if (last)
		destroy(r);
}

void parsememo_get_stats(struct parsememo_stats *out)
{
	pthread_mutex_lock(&memo.lock);
	out->parses = memo.parses;
	out->hits = memo.hits;
	out->bytes = memo.bytes;
	pthread_mutex_unlock(&memo.lock);
}
