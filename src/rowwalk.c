/* rowwalk.c - walking a resource row: an API list becomes a directory
 * listing.
 *
 * One list walked page by page (api_list), a view by one field from
 * linkidx's index of the whole list, or a split row's lists at once, one
 * thread each (run_splits: joined before the listing returns). Items
 * become entries with safe names (names.c); a file row's items are
 * rendered once for their size, the bytes kept while a budget lasts. The
 * state it keeps: that budget (set once at start) and, behind stash.lock,
 * the sibling views a grouped split walk met, for STASH_MS. Calls api,
 * linkidx, names, json and restab's helpers; called by the res_*.c kinds.
 */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apisecfs/api.h"
#include "apisecfs/clock.h"
#include "apisecfs/json.h"
#include "apisecfs/linkidx.h"
#include "apisecfs/log.h"
#include "apisecfs/names.h"
#include "apisecfs/restab.h"
#include "apisecfs/rowwalk.h"

/* ---- rows --------------------------------------------------------- */

struct item {
	char *id;
	char *api_name;
	time_t mtime;
	struct blob *payload; /* RES_DIR: the compact object */
	size_t size;	      /* RES_FILE: the pretty rendering's length */
	uint64_t hash;	      /* and its hash */
	struct blob *bytes;   /* and the bytes, while the budget lasts */
	struct blob *src;     /* RES_FILE: the page it came in */
	unsigned char group;  /* grouped walks: index of its match value */
};

/* The distinct values of row->match_field a grouped walk met (statuses:
 * a handful), shared by the parallel streams of one walk. */
#define GROUPS_MAX 32
struct groups {
	pthread_mutex_t lock; /* a leaf; protects values, n, overflow */
	char *values[GROUPS_MAX];
	size_t n;
	bool overflow; /* more values than that: those items were dropped */
};

struct collect {
	const struct res_row *row;
	struct item *v;
	size_t n, alloc;
	unsigned long skipped;
	struct buf scratch;    /* one rendering at a time */
	size_t *keep_left;     /* rendered bytes the walk may still keep
				* (shared by its parallel streams: atomic) */
	struct blob *page_key; /* shared by the items of one page */
	const char *match;     /* row->match_field must equal this */
	struct groups *groups; /* instead of match: keep all, grouped */
};

/* The index of value in g (added if new), or -1 when g is full or
 * memory is short (g->overflow is set). */
static int group_of(struct groups *g, const char *value)
{
	int idx = -1;
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < g->n && idx < 0; i++)
		if (strcmp(g->values[i], value) == 0)
			idx = (int)i;
	if (idx < 0 && g->n < GROUPS_MAX &&
	    (g->values[g->n] = strdup(value)) != NULL)
		idx = (int)g->n++;
	if (idx < 0)
		g->overflow = true;
	pthread_mutex_unlock(&g->lock);
	return idx;
}

/* Render a file row's item (pretty) into scratch: size and hash. */
static int measure(struct collect *cl, const cJSON *it, struct item *x)
{
	buf_reset(&cl->scratch);
	if (json_render_pretty(it, &cl->scratch))
		return -1;
	x->size = cl->scratch.len;
	x->hash = buf_digest(cl->scratch.data, cl->scratch.len);
	/* The size needs the rendering anyway: keep the bytes while they fit
	 * a share of the content cap, so the first read of a file costs no
	 * second rendering of its page. */
	size_t left = cl->keep_left ? __atomic_load_n(cl->keep_left,
						      __ATOMIC_RELAXED)
				    : 0;
	while (x->size <= left &&
	       !__atomic_compare_exchange_n(
		       cl->keep_left, &left, left - x->size, false,
		       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	if (x->size <= left)
		x->bytes = blob_new(cl->scratch.data, x->size);
	return 0;
}

/* Rendered bytes one walk may keep (rowwalk_keep_rendered): set once
 * before threads start. */
static size_t keep_budget;

void rowwalk_keep_rendered(size_t bytes)
{
	keep_budget = bytes;
}

/* A new zeroed item at the end of cl (cl->n not yet counted), or NULL
 * when memory is short. */
static struct item *push_item(struct collect *cl)
{
	if (cl->n == cl->alloc) {
		size_t na = cl->alloc ? cl->alloc * 2 : 64;
		struct item *v = realloc(cl->v, na * sizeof(*v));
		if (!v)
			return NULL;
		cl->v = v;
		cl->alloc = na;
	}
	struct item *x = &cl->v[cl->n];
	memset(x, 0, sizeof(*x));
	return x;
}

static int collect_item(const cJSON *it, const char *page_key, void *ud)
{
	struct collect *cl = ud;
	const struct res_row *row = cl->row;
	const char *id = json_str(it, row->id_field);
	const char *name =
		row->name_field ? json_str(it, row->name_field) : NULL;
	if (!id || !*id) {
		cl->skipped++; /* an item we cannot address */
		return 0;
	}
	int group = 0;
	if (row->match_field) {
		const char *v = json_str(it, row->match_field);
		if (!v)
			return 0;
		if (cl->groups)
			group = group_of(cl->groups, v);
		else if (!cl->match || strcmp(v, cl->match))
			return 0;
		if (group < 0)
			return 0;
	}
	struct item *x = push_item(cl);
	if (!x)
		return -1;
	x->id = strdup(id);
	x->api_name = name ? strdup(name) : NULL;
	x->mtime = restab_mtime(it);
	x->group = (unsigned char)group;
	int rc = 0;
	if (row->shape == RES_DIR) {
		x->payload = restab_compact(it);
		rc = x->payload ? 0 : -1;
	} else if (row->shape == RES_FILE) {
		if (!cl->page_key || strcmp(cl->page_key->data, page_key)) {
			blob_unref(cl->page_key);
			cl->page_key = blob_new(page_key, strlen(page_key));
		}
		x->src = blob_ref(cl->page_key);
		rc = (!x->src || measure(cl, it, x)) ? -1 : 0;
	}
	if (rc || !x->id || (name && !x->api_name)) {
		free(x->id);
		free(x->api_name);
		blob_unref(x->payload);
		blob_unref(x->src);
		blob_unref(x->bytes);
		return -1;
	}
	cl->n++;
	return 0;
}

static void collect_free(struct collect *cl)
{
	for (size_t i = 0; i < cl->n; i++) {
		free(cl->v[i].id);
		free(cl->v[i].api_name);
		blob_unref(cl->v[i].payload);
		blob_unref(cl->v[i].src);
		blob_unref(cl->v[i].bytes);
	}
	free(cl->v);
	buf_free(&cl->scratch, false);
	blob_unref(cl->page_key);
}

static int list_path(const struct kind_ctx *c, const struct res_row *row,
		     char *path, size_t pathsz)
{
	int n;
	if (row->filter) {
		const char *v = row->filter_from_id ? c->id : c->ctx;
		char esc[API_PATH_MAX / 2];
		n = snprintf(path, pathsz, "%s?%s=%s", row->path, row->filter,
			     api_escape(v ? v : "", esc, sizeof(esc)));
	} else {
		n = snprintf(path, pathsz, "%s", row->path);
	}
	return (n < 0 || (size_t)n >= pathsz) ? -ENAMETOOLONG : 0;
}

/* Turn the collected items into listing entries with safe names. The
 * items' strings move into the listing as they go, so a listing of
 * 100,000 findings never holds them twice. */
static int add_items(struct collect *cl, struct listing *out)
{
	const struct res_row *row = cl->row;
	struct names_entry *ne = calloc(cl->n ? cl->n : 1, sizeof(*ne));
	int rc = -ENOMEM;
	if (!ne || listing_reserve(out, cl->n))
		goto out;
	for (size_t i = 0; i < cl->n; i++) {
		ne[i].api_name = cl->v[i].api_name;
		ne[i].id = cl->v[i].id;
	}
	if (names_assign(ne, cl->n, row->ext, row->reserved))
		goto out;
	rc = 0;
	for (size_t i = 0; i < cl->n; i++) {
		struct item *x = &cl->v[i];
		char *name = ne[i].name, *id = x->id;
		ne[i].name = NULL;
		free(x->api_name);
		x->api_name = NULL;
		if (rc) {
			free(name); /* an earlier entry failed: just clean up */
			continue;
		}
		if (row->shape == RES_LINK) {
			char target[NAMES_BASE_MAX * 2 + NAMES_ID_MAX + 64];
			char home[NAMES_BASE_MAX + NAMES_ID_MAX + 32];
			/* Where the item lives, by that directory's rules:
			 * a scan with id "new" is scans/new~new there. */
			names_home(id, row->ext, row->link_reserved, home,
				   sizeof(home));
			int n = snprintf(target, sizeof(target), "%s%s",
					 row->link_to, home);
			struct blob *content = blob_new(target, (size_t)n);
			x->id = NULL;
			rc = content ? listing_take(out, name, row->child, id,
						    content, NULL, x->mtime)
				     : (free(name), free(id), -ENOMEM);
		} else if (row->shape == RES_FILE) {
			x->id = NULL;
			rc = listing_take_reloadable(out, name, row->child, id,
						     x->size, x->hash, x->src,
						     x->bytes, x->mtime);
			x->src = NULL;
			x->bytes = NULL;
		} else {
			x->id = NULL;
			rc = listing_take(out, name, row->child, id, NULL,
					  x->payload, x->mtime);
			x->payload = NULL;
		}
	}
out:
	free(ne);
	return rc;
}

/* ---- parallel streams --------------------------------------------- */

struct split_job {
	char path[API_PATH_MAX];
	struct collect cl;
	bool collect; /* call back per item (else: signature only) */
	uint64_t sig;
	enum api_err result;
	struct api_status st;
	pthread_t thread;
	bool started;
};

static void *split_run(void *arg)
{
	struct split_job *j = arg;
	bool unchanged;
	j->result = api_list(j->path, 0, j->collect ? collect_item : NULL,
			     &j->cl, &j->sig, &unchanged, &j->st);
	return NULL;
}

/* Walk every job's list at once; the first error, or API_OK. */
static enum api_err run_splits(struct split_job *jobs, size_t n, bool collect,
			       struct api_status *st)
{
	enum api_err result = API_OK;
	for (size_t i = 0; i < n; i++) {
		jobs[i].collect = collect;
		jobs[i].started = pthread_create(&jobs[i].thread, NULL,
						 split_run, &jobs[i]) == 0;
		if (!jobs[i].started)
			split_run(&jobs[i]); /* no thread: in line */
	}
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].started)
			pthread_join(jobs[i].thread, NULL);
		if (jobs[i].result && !result) {
			result = jobs[i].result;
			*st = jobs[i].st;
		}
	}
	return result;
}

static int by_id(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->id,
		      ((const struct item *)b)->id);
}

/* Move every job's items into all, in id order (the API's order). */
static int merge(struct split_job *jobs, size_t n, struct collect *all)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += jobs[i].cl.n;
	all->v = calloc(total ? total : 1, sizeof(*all->v));
	if (!all->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!jobs[i].cl.n)
			continue; /* its v may be NULL: no memcpy from NULL */
		memcpy(all->v + all->n, jobs[i].cl.v,
		       jobs[i].cl.n * sizeof(*all->v));
		all->n += jobs[i].cl.n;
		jobs[i].cl.n = 0;
		free(jobs[i].cl.v); /* moved: do not hold the items twice */
		jobs[i].cl.v = NULL;
		jobs[i].cl.alloc = 0;
	}
	all->alloc = total;
	qsort(all->v, all->n, sizeof(*all->v), by_id);
	return 0;
}

/* ---- sibling views from one walk ---------------------------------- */

/* by-status/S/, for each S, filters the same five streams. Listing one
 * walks them all, so that walk keeps the other values' items a while:
 * the siblings listed next (grep -r, find and ls -R list them in a row)
 * then cost a signature walk (nothing, or 304s) instead of a whole walk
 * each. At 100,000 findings, with the pages not all fitting the cache,
 * that was 1,000 page downloads for one grep -r. */
#define STASH_MS 30000

struct stash_group {
	char *value;
	struct collect cl; /* v, n, alloc only */
	/* Its items were handed out: a second listing of the same view
	 * (two threads, or the export reading ahead) must walk, not take
	 * an empty group for "no item has that value". */
	bool taken;
};

/* stash.lock protects every field; a leaf, never held across a request
 * (a walk takes what it needs and lets go). */
static struct {
	pthread_mutex_t lock;
	char key[API_PATH_MAX]; /* the row's lists and field; "" when empty */
	uint64_t sig;		/* of the pages the items came from */
	long long until_ms;
	bool complete; /* every value has its group (an absent one: none) */
	struct stash_group *v;
	size_t n;
} stash = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void stash_clear_locked(void)
{
	for (size_t i = 0; i < stash.n; i++) {
		free(stash.v[i].value);
		collect_free(&stash.v[i].cl);
	}
	free(stash.v);
	stash.v = NULL;
	stash.n = 0;
	stash.key[0] = '\0';
}

void rowwalk_cleanup(void)
{
	linkidx_cleanup();
	pthread_mutex_lock(&stash.lock);
	stash_clear_locked();
	pthread_mutex_unlock(&stash.lock);
}

static bool stash_holds(const char *key)
{
	pthread_mutex_lock(&stash.lock);
	bool yes = strcmp(stash.key, key) == 0 && clock_ms() < stash.until_ms;
	pthread_mutex_unlock(&stash.lock);
	return yes;
}

/* Move the items stashed for value into all (empty if the walk met none)
 * if the stash is of key and sig; false if it cannot say. */
static bool stash_take(const char *key, uint64_t sig, const char *value,
		       struct collect *all)
{
	bool got = false;
	pthread_mutex_lock(&stash.lock);
	if (strcmp(stash.key, key) || stash.sig != sig ||
	    clock_ms() >= stash.until_ms)
		goto out;
	for (size_t i = 0; i < stash.n; i++) {
		struct stash_group *g = &stash.v[i];
		if (strcmp(g->value, value))
			continue;
		if (g->taken)
			goto out; /* taken once: cannot say */
		all->v = g->cl.v;
		all->n = g->cl.n;
		all->alloc = g->cl.alloc;
		g->cl.v = NULL;
		g->cl.n = g->cl.alloc = 0;
		g->taken = true;
		got = true;
		break;
	}
	got = got || stash.complete;
out:
	pthread_mutex_unlock(&stash.lock);
	return got;
}

/* Split a grouped walk's items: those of value stay in all, the other
 * groups go to the stash (replacing what it held). */
static int split_groups(struct collect *all, struct groups *gs,
			const char *key, uint64_t sig, const char *value)
{
	struct stash_group *v = calloc(gs->n ? gs->n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t *count = calloc(gs->n ? gs->n : 1, sizeof(*count));
	int rc = count ? 0 : -ENOMEM;
	for (size_t i = 0; !rc && i < all->n; i++)
		count[all->v[i].group]++;
	for (size_t g = 0; !rc && g < gs->n; g++) {
		v[g].cl.alloc = count[g];
		v[g].cl.v =
			calloc(count[g] ? count[g] : 1, sizeof(struct item));
		if (!v[g].cl.v)
			rc = -ENOMEM;
	}
	if (rc) {
		for (size_t g = 0; g < gs->n; g++)
			free(v[g].cl.v);
		free(v);
		free(count);
		return rc;
	}
	for (size_t i = 0; i < all->n; i++) {
		struct collect *to = &v[all->v[i].group].cl;
		to->v[to->n++] = all->v[i]; /* moved, in id order still */
	}
	free(all->v);
	all->v = NULL;
	all->n = all->alloc = 0;
	free(count);
	pthread_mutex_lock(&stash.lock);
	stash_clear_locked();
	for (size_t g = 0; g < gs->n; g++) {
		struct collect cl = v[g].cl;
		bool ours = strcmp(gs->values[g], value) == 0;
		if (ours) {
			all->v = cl.v; /* listed now: in the stash as taken */
			all->n = cl.n;
			all->alloc = cl.alloc;
			memset(&cl, 0, sizeof(cl));
		}
		v[stash.n].cl = cl;
		v[stash.n].taken = ours;
		v[stash.n].value = gs->values[g]; /* the stash owns it now */
		gs->values[g] = NULL;
		stash.n++;
	}
	stash.v = v;
	snprintf(stash.key, sizeof(stash.key), "%s", key);
	stash.sig = sig;
	stash.complete = !gs->overflow;
	stash.until_ms = clock_ms() + STASH_MS;
	pthread_mutex_unlock(&stash.lock);
	return 0;
}

static int list_split(const struct kind_ctx *c, const struct res_row *row,
		      struct listing *out)
{
	size_t n = 0;
	while (row->split_values[n])
		n++;
	struct split_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	struct collect all = { .row = row };
	size_t keep_left = keep_budget;
	struct api_status st = { 0 };
	/* A view filtered by value walks every item anyway: keep them all,
	 * grouped, for the sibling views (see the stash above). */
	struct groups groups = { .lock = PTHREAD_MUTEX_INITIALIZER };
	bool grouped = row->match_field && c->ctx;
	char key[API_PATH_MAX];
	snprintf(key, sizeof(key), "%s?%s|%s", row->path, row->split_param,
		 row->match_field ? row->match_field : "");
	int rc = jobs ? 0 : -ENOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		char esc[API_PATH_MAX / 2];
		jobs[i].cl.row = row;
		jobs[i].cl.match = c->ctx;
		jobs[i].cl.groups = grouped ? &groups : NULL;
		buf_init(&jobs[i].cl.scratch, HTTP_MAX_BODY);
		jobs[i].cl.keep_left = &keep_left;
		int w = snprintf(
			jobs[i].path, sizeof(jobs[i].path), "%s?%s=%s",
			row->path, row->split_param,
			api_escape(row->split_values[i], esc, sizeof(esc)));
		if (w < 0 || (size_t)w >= sizeof(jobs[i].path))
			rc = -ENAMETOOLONG;
	}
	/* First listing: collect at once. Later, or with a stash to take
	 * from: signatures first (304s), and collect (from the now cached
	 * pages) only if something moved and the stash cannot say. */
	bool sig_first = c->list_sig || (grouped && stash_holds(key));
	bool collected = !sig_first;
	enum api_err result =
		rc ? API_OK : run_splits(jobs, n, collected, &st);
	uint64_t sig = BUF_HASH_SEED;
	for (size_t i = 0; !rc && !result && i < n; i++)
		sig = buf_hash_continue(sig, &jobs[i].sig,
					sizeof(jobs[i].sig));
	out->sig = sig ? sig : 1;
	if (!rc && !result && sig_first) {
		out->unchanged = c->list_sig && out->sig == c->list_sig;
		if (!out->unchanged &&
		    !(grouped && stash_take(key, out->sig, c->ctx, &all))) {
			result = run_splits(jobs, n, true, &st);
			collected = true;
		}
	}
	if (!rc && result)
		rc = restab_errno(result, &st);
	if (!rc && collected)
		rc = merge(jobs, n, &all);
	if (!rc && collected && grouped)
		rc = split_groups(&all, &groups, key, out->sig, c->ctx);
	if (!rc && !out->unchanged)
		rc = add_items(&all, out);
	for (size_t i = 0; jobs && i < n; i++)
		collect_free(&jobs[i].cl);
	collect_free(&all);
	free(jobs);
	for (size_t g = 0; g < groups.n; g++)
		free(groups.values[g]);
	return rc;
}

static int index_item(const char *id, time_t mtime, const char *extra,
		      void *ud)
{
	struct collect *cl = ud;
	(void)extra;
	struct item *x = push_item(cl);
	if (!x)
		return -1;
	x->mtime = mtime;
	if (!(x->id = strdup(id)))
		return -1;
	cl->n++;
	return 0;
}

/* A view of a list by one field, from the index of the whole list. */
static int list_indexed(const struct kind_ctx *c, const struct res_row *row,
			struct listing *out)
{
	const char *v = row->filter_from_id ? c->id : c->ctx;
	struct collect cl = { .row = row };
	struct api_status st = { 0 };
	uint64_t sig = 0;
	enum api_err result = linkidx_view(
		row->index_paths, row->filter, row->id_field, row->index_extra,
		v ? v : "", index_item, &cl, &sig, &st);
	int rc = result ? restab_errno(result, &st) : 0;
	if (!rc) {
		out->sig = sig;
		out->unchanged = c->list_sig && c->list_sig == sig;
		if (!out->unchanged)
			rc = add_items(&cl, out);
	}
	collect_free(&cl);
	return rc;
}

int rowwalk_list(const struct kind_ctx *c, const struct res_row *row,
		 struct listing *out)
{
	if (row->new_ctl) {
		int rc = restab_add(out, "new", row->new_ctl, NULL, NULL);
		if (rc)
			return rc;
	}
	if (row->index_paths)
		return list_indexed(c, row, out);
	if (row->split_param)
		return list_split(c, row, out);
	char path[API_PATH_MAX];
	size_t keep_left = keep_budget;
	struct collect cl = { .row = row,
			      .match = c->ctx,
			      .keep_left = &keep_left };
	struct api_status st = { 0 };
	buf_init(&cl.scratch, HTTP_MAX_BODY);
	int rc = list_path(c, row, path, sizeof(path));
	if (rc)
		return rc;
	enum api_err result = api_list(path, c->list_sig, collect_item, &cl,
				       &out->sig, &out->unchanged, &st);
	if (result) {
		rc = restab_errno(result, &st);
	} else {
		if (cl.skipped)
			log_warn("GET %s: %lu items without %s skipped", path,
				 cl.skipped, row->id_field);
		if (!out->unchanged)
			rc = add_items(&cl, out);
	}
	collect_free(&cl);
	return rc;
}

/* ---- reload ------------------------------------------------------- */

struct reload {
	const struct res_row *row;
	kind_emit_fn emit;
	void *ud;
};

static int reload_item(const cJSON *it, const char *page_key, void *ud)
{
	struct reload *r = ud;
	const struct res_row *row = r->row;
	const char *id = json_str(it, row->id_field);
	char name[NAMES_BASE_MAX + 32];
	(void)page_key;
	if (!id || !*id)
		return 0;
	names_first_choice(row->name_field ? json_str(it, row->name_field)
					   : NULL,
			   id, row->ext, name, sizeof(name));
	struct blob *content = restab_pretty(it);
	return content ? r->emit(id, name, content, r->ud) : -1;
}

int rowwalk_reload(const struct res_row *row, const char *page_key,
		   kind_emit_fn emit, void *ud)
{
	struct reload r = { row, emit, ud };
	struct api_status st = { 0 };
	enum api_err result = api_page(page_key, reload_item, &r, &st);
	return restab_errno(result, &st);
}

/* ---- one page, for the fuzzer ------------------------------------- */

int rowwalk_page_listing(const struct res_row *row, const char *body,
			 size_t len, struct listing *out)
{
	struct collect cl = { .row = row };
	int rc = -EINVAL;
	buf_init(&cl.scratch, HTTP_MAX_BODY);
	cJSON *page = json_parse(body, len);
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items");
	const cJSON *it;
	if (cJSON_IsArray(items)) {
		rc = 0;
		cJSON_ArrayForEach (it, items) {
			if (collect_item(it, "/fuzz?limit=500", &cl)) {
				rc = -ENOMEM;
				break;
			}
		}
	}
	if (!rc)
		rc = add_items(&cl, out);
	cJSON_Delete(page);
	collect_free(&cl);
	return rc;
}
