/* linkidx.c - one index per (lists, field): value -> the items with it.
 *
 * Owns the indexes, under idx.lock; a rebuild walks the lists with no lock
 * held and swaps the new index in. Calls api (walks) and json.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "apisecfs/api.h"
#include "apisecfs/json.h"
#include "apisecfs/linkidx.h"
#include "apisecfs/restab.h"

struct member {
	char *id;
	char *extra; /* the extra field's value, or NULL */
	time_t mtime;
};

struct group {
	char *value;
	struct member *v;
	size_t n, alloc;
	UT_hash_handle hh;
};

struct index {
	const char *const *paths;
	const char *field, *extra_field;
	uint64_t sig;	      /* of the lists it was built from */
	struct group *groups; /* by value */
	struct index *next;
};

/* idx.lock protects the indexes and building. A leaf: dropped while an
 * index is built (building keeps the others waiting on built); the view's
 * callback runs under it and only copies (restab, scanhist). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t built;
	struct index *head;
	bool building;
} idx = { .lock = PTHREAD_MUTEX_INITIALIZER,
	  .built = PTHREAD_COND_INITIALIZER };

static void groups_free(struct group *groups)
{
	struct group *g, *tmp;
	HASH_ITER (hh, groups, g, tmp) {
		HASH_DEL(groups, g);
		for (size_t i = 0; i < g->n; i++) {
			free(g->v[i].id);
			free(g->v[i].extra);
		}
		free(g->v);
		free(g->value);
		free(g);
	}
}

struct build {
	const char *field, *id_field, *extra_field;
	struct group *groups;
	bool nomem;
};

static int add_member(const cJSON *item, const char *page_key, void *ud)
{
	struct build *b = ud;
	const char *value = json_str(item, b->field);
	const char *id = json_str(item, b->id_field);
	struct group *g;
	(void)page_key;
	if (!value || !id || !*id)
		return 0;
	HASH_FIND_STR(b->groups, value, g);
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g || !(g->value = strdup(value))) {
			free(g);
			b->nomem = true;
			return -1;
		}
		HASH_ADD_KEYPTR(hh, b->groups, g->value, strlen(g->value), g);
	}
	if (g->n == g->alloc) {
		size_t na = g->alloc ? g->alloc * 2 : 8;
		struct member *v = realloc(g->v, na * sizeof(*v));
		if (!v) {
			b->nomem = true;
			return -1;
		}
		g->v = v;
		g->alloc = na;
	}
	struct member *m = &g->v[g->n];
	const char *extra =
		b->extra_field ? json_str(item, b->extra_field) : NULL;
	m->id = strdup(id);
	m->extra = extra ? strdup(extra) : NULL;
	if (!m->id || (extra && !m->extra)) {
		free(m->id);
		free(m->extra);
		b->nomem = true;
		return -1;
	}
	m->mtime = restab_mtime(item);
	g->n++;
	return 0;
}

/* The lists' signature now: page versions only, no parse (and, for the
 * resources that have it, their round of changes after the TTL). */
static enum api_err lists_sig(const char *const *paths, uint64_t *sig,
			      struct api_status *st)
{
	*sig = BUF_HASH_SEED;
	for (size_t i = 0; paths[i]; i++) {
		uint64_t s;
		enum api_err result =
			api_list_pages(paths[i], NULL, NULL, &s, st);
		if (result)
			return result;
		*sig = buf_hash_continue(*sig, &s, sizeof(s));
	}
	return API_OK;
}

static int by_id(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->id,
		      ((const struct member *)b)->id);
}

static enum api_err build(const char *const *paths, const char *field,
			  const char *id_field, const char *extra_field,
			  struct group **out, struct api_status *st)
{
	struct build b = { field, id_field, extra_field, NULL, false };
	enum api_err result = API_OK;
	for (size_t i = 0; paths[i] && !result; i++) {
		uint64_t s;
		bool unchanged;
		result = api_list(paths[i], 0, add_member, &b, &s, &unchanged,
				  st);
	}
	if (!result && b.nomem)
		result = API_E_NOMEM;
	if (result) {
		groups_free(b.groups);
		return result;
	}
	/* Streams are walked one after the other: the API's order (ids in
	 * creation order) within each group again. */
	struct group *g, *tmp;
	HASH_ITER (hh, b.groups, g, tmp)
		if (paths[0] && paths[1])
			qsort(g->v, g->n, sizeof(*g->v), by_id);
	*out = b.groups;
	return API_OK;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

enum api_err linkidx_view(const char *const *paths, const char *field,
			  const char *id_field, const char *extra_field,
			  const char *value, linkidx_fn fn, void *ud,
			  uint64_t *sig, struct api_status *st)
{
	uint64_t now;
	enum api_err result = lists_sig(paths, &now, st);
	if (result)
		return result;
	pthread_mutex_lock(&idx.lock);
	struct index *ix;
	for (;;) {
		for (ix = idx.head; ix; ix = ix->next)
			if (ix->paths == paths && same_str(ix->field, field) &&
			    same_str(ix->extra_field, extra_field))
				break;
		if ((ix && ix->sig == now) || !idx.building)
			break;
		pthread_cond_wait(&idx.built, &idx.lock);
	}
	if (!ix || ix->sig != now) {
		/* One rebuild at a time: a find lists a hundred views at
		 * once, and each would walk the same pages. */
		idx.building = true;
		pthread_mutex_unlock(&idx.lock);
		struct group *groups = NULL;
		result = build(paths, field, id_field, extra_field, &groups,
			       st);
		pthread_mutex_lock(&idx.lock);
		idx.building = false;
		pthread_cond_broadcast(&idx.built);
		if (!result && !ix) {
			ix = calloc(1, sizeof(*ix));
			if (ix) {
				ix->paths = paths;
				ix->field = field;
				ix->extra_field = extra_field;
				ix->next = idx.head;
				idx.head = ix;
			} else {
				result = API_E_NOMEM;
			}
		}
		if (result) {
			pthread_mutex_unlock(&idx.lock);
			groups_free(groups);
			return result;
		}
		groups_free(ix->groups);
		ix->groups = groups;
		/* Built from pages at least as new as now; if they moved on
		 * meanwhile, the next view rebuilds. */
		ix->sig = now;
	}
	struct group *g;
	HASH_FIND_STR(ix->groups, value, g);
	int rc = 0;
	for (size_t i = 0; g && i < g->n && !rc; i++)
		rc = fn(g->v[i].id, g->v[i].mtime, g->v[i].extra, ud);
	*sig = now ^ (uint64_t)(g ? g->n : 0) * 0x9e3779b97f4a7c15ULL;
	pthread_mutex_unlock(&idx.lock);
	return rc ? API_E_NOMEM : API_OK;
}

void linkidx_cleanup(void)
{
	pthread_mutex_lock(&idx.lock);
	while (idx.head) {
		struct index *ix = idx.head;
		idx.head = ix->next;
		groups_free(ix->groups);
		free(ix);
	}
	pthread_mutex_unlock(&idx.lock);
}
