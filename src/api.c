/* api.c - the platform's REST API: credentialed requests, cached GETs,
 * paged lists, actions.
 *
 * Calls auth (the Authorization value and renewal), cache, delta and
 * http. The base URL is set once before any thread starts; the rounds of
 * changes (below) have their lock, never held across a request. Secrets
 * pass through stack buffers that are wiped after each request.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/auth.h"
#include "apisecfs/clock.h"
#include "apisecfs/delta.h"
#include "apisecfs/json.h"
#include "apisecfs/log.h"
#include "apisecfs/parsememo.h"
#include "apisecfs/prefetch.h"

static char *base_url;

/* ---- rounds of changes ---------------------------------------------

 * After the TTL, a list of a resource with updatedSince (delta.h) is not
 * revalidated page by page: one round per resource and TTL asks what
 * changed since the last round's mark, keeps the pages no change touched
 * fresh for another TTL, and leaves the others to be asked again. The
 * mark is the platform's own clock (its Date header, advanced by our
 * monotonic clock), less a margin for what was being written as the mark
 * was taken, so the local clock's error never matters. Items disappear
 * only with their application (the contract), so a round also checks the
 * set of application ids; if it changed, or the answer is long, the round
 * renews nothing and the pages are revalidated as before. */
#define API_DELTA_MARGIN_S 2
#define API_DELTA_MAX_ITEMS API_PAGE_LIMIT

struct round {
	const char *prefix;
	char mark[32]; /* RFC 3339, platform time */
	bool has_mark;
	bool busy; /* a thread is asking */
	long long checked_ms;
	uint64_t apps_sig; /* the application ids at the last round */
	bool has_apps_sig;
};

/* deltas.lock protects every field here and in each round but prefix
 * (constant); a leaf, never held across a request (busy marks the round
 * a thread is asking for, done wakes the others). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct round r[2];
	long long ttl_ms;
	time_t date;	     /* the last Date the platform sent */
	long long date_mono; /* our monotonic clock then */
} deltas = { .lock = PTHREAD_MUTEX_INITIALIZER,
	     .done = PTHREAD_COND_INITIALIZER,
	     .r = { { .prefix = "/v1/vulnerabilities" },
		    { .prefix = "/v1/scans" } } };

static void note_date(time_t date)
{
	if (!date)
		return;
	pthread_mutex_lock(&deltas.lock);
	deltas.date = date;
	deltas.date_mono = clock_ms();
	pthread_mutex_unlock(&deltas.lock);
}

/* Lock held: the platform's time now, less the margin, as RFC 3339; false
 * when it never said. */
static bool mark_now_locked(char *out, size_t outsz)
{
	struct tm tm;
	if (!deltas.date)
		return false;
	time_t t = deltas.date + (clock_ms() - deltas.date_mono) / 1000 -
		   API_DELTA_MARGIN_S;
	return gmtime_r(&t, &tm) &&
	       strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0;
}

static struct round *round_of(const char *path)
{
	const char *prefix = delta_resource(path);
	for (size_t i = 0; prefix && i < 2; i++)
		if (strcmp(deltas.r[i].prefix, prefix) == 0)
			return &deltas.r[i];
	return NULL;
}

int api_init(const struct api_opts *opts)
{
	deltas.ttl_ms = opts->ttl_ms;
	parsememo_init(opts->parsed_max);
	size_t n = strlen(opts->base_url);
	while (n && opts->base_url[n - 1] == '/')
		n--;
	base_url = strndup(opts->base_url, n);
	return base_url ? 0 : -1;
}

void api_cleanup(void)
{
	parsememo_cleanup();
	free(base_url);
	base_url = NULL;
}

void api_expire_cached(void)
{
	cache_expire_prefix("");
	/* The next walk asks what changed at once, not after the TTL. */
	pthread_mutex_lock(&deltas.lock);
	for (size_t i = 0; i < 2; i++)
		deltas.r[i].checked_ms = 0;
	pthread_mutex_unlock(&deltas.lock);
}

void api_forget_changes(void)
{
	pthread_mutex_lock(&deltas.lock);
	for (size_t i = 0; i < 2; i++)
		deltas.r[i].has_mark = deltas.r[i].has_apps_sig = false;
	pthread_mutex_unlock(&deltas.lock);
}

const char *api_escape(const char *s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < outsz; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* Perform rq against path with the credential; on a 401 from a credential
 * that can be renewed, renew once and retry once. The preflight does not
 * renew: a credential refused at mount time is reported, not retried. */
static enum api_err authed_do(struct http_req *rq, const char *path,
			      struct http_resp *rs)
{
	char url[API_PATH_MAX + 512];
	char authz[AUTH_SECRET_MAX + 16];
	unsigned gen = 0;
	enum api_err result;

	memset(rs, 0, sizeof(*rs));
	if ((size_t)snprintf(url, sizeof(url), "%s%s", base_url, path) >=
	    sizeof(url))
		return API_E_BAD_REQUEST;
	rq->url = url;
	for (int attempt = 0;; attempt++) {
		if (auth_authorization(authz, sizeof(authz), &gen)) {
			explicit_bzero(authz, sizeof(authz));
			return API_E_UNAUTH;
		}
		rq->authorization = authz;
		result = http_do(rq, rs);
		note_date(rs->date);
		explicit_bzero(authz, sizeof(authz));
		rq->authorization = NULL;
		if (result != API_E_UNAUTH || attempt > 0 || rq->quiet ||
		    auth_renew(gen))
			break;
		http_resp_free(rs);
	}
	return result;
}

enum api_err api_fetch(const char *path, const char *etag, bool once,
		       struct http_resp *rs)
{
	struct http_req rq = { .method = "GET",
			       .if_none_match = etag,
			       .retryable = !once };
	return authed_do(&rq, path, rs);
}

enum api_err api_me(cJSON **out, struct api_status *st)
{
	struct http_req rq = { .method = "GET",
			       .retryable = true,
			       .quiet = true };
	struct http_resp rs;
	enum api_err result = authed_do(&rq, "/v1/me", &rs);
	*out = NULL;
	if (result == API_OK) {
		*out = json_parse(rs.body.data ? rs.body.data : "",
				  rs.body.len);
		if (!cJSON_IsObject(*out)) {
			cJSON_Delete(*out);
			*out = NULL;
			result = API_E_BAD_RESPONSE;
		}
	}
	if (st)
		*st = rs.st;
	http_resp_free(&rs);
	return result;
}

enum api_err api_get_dated(const char *path, cJSON **out, time_t *date,
			   struct api_status *st)
{
	struct http_req rq = { .method = "GET", .retryable = true };
	struct http_resp rs;
	enum api_err result = authed_do(&rq, path, &rs);
	*out = NULL;
	*date = 0;
	if (result == API_OK) {
		*out = json_parse(rs.body.data ? rs.body.data : "",
				  rs.body.len);
		*date = rs.date;
		if (!cJSON_IsObject(*out) || !rs.date) {
			log_warn("GET %s: %s", path,
				 *out ? "no Date header" : "not valid JSON");
			cJSON_Delete(*out);
			*out = NULL;
			result = API_E_BAD_RESPONSE;
		}
	}
	if (st)
		*st = rs.st;
	http_resp_free(&rs);
	return result;
}

enum api_err api_get_doc(const char *path, struct cache_doc *doc,
			 struct api_status *st)
{
	return cache_get(path, doc, st);
}

void api_doc_release(struct cache_doc *doc)
{
	cache_doc_release(doc);
}

void api_cache_stats(struct cache_stats *out)
{
	cache_get_stats(out);
}

void api_parse_stats(unsigned long *parses, unsigned long *shared,
		     size_t *bytes)
{
	struct parsememo_stats ps;
	parsememo_get_stats(&ps);
	*parses = ps.parses;
	*shared = ps.hits;
	*bytes = ps.bytes;
}

enum api_err api_get_json(const char *path, cJSON **out, struct api_status *st)
{
	struct cache_doc doc;
	enum api_err result = cache_get(path, &doc, st);
	*out = NULL;
	if (result)
		return result;
	*out = json_parse(doc.body->data, doc.body->len);
	cache_doc_release(&doc);
	if (!*out) {
		log_warn("GET %s: response is not valid JSON", path);
		return API_E_BAD_RESPONSE;
	}
	return API_OK;
}

/* ---- lists -------------------------------------------------------- */

static int page_key(char *key, size_t keysz, const char *path,
		    const char *next)
{
	char esc[API_PATH_MAX];
	const char *sep = strchr(path, '?') ? "&" : "?";
	int n;
	if (next)
		n = snprintf(key, keysz, "%s%slimit=%d&nextToken=%s", path,
			     sep, API_PAGE_LIMIT,
			     api_escape(next, esc, sizeof(esc)));
	else
		n = snprintf(key, keysz, "%s%slimit=%d", path, sep,
			     API_PAGE_LIMIT);
	return (n < 0 || (size_t)n >= keysz) ? -1 : 0;
}

/* ---- measured pages ----------------------------------------------- */

/* At most PARSE_GATE pages are parsed at once. A parsed page weighs
 * several times its body (a cJSON node per field), and a listing walks
 * five streams in parallel: unbounded, 100,000 findings peaked 15 MB
 * higher. Fetching stays parallel; parsing is CPU work that two cores
 * could not run faster five at a time anyway. */
#define PARSE_GATE 2
static struct {
	pthread_mutex_t lock; /* a leaf; the gate itself (busy) is held across
			       * a parse, under which no lock is taken */
	pthread_cond_t cond;
	int busy; /* lock */
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

static void gate_enter(void)
{
	pthread_mutex_lock(&gate.lock);
	while (gate.busy >= PARSE_GATE)
		pthread_cond_wait(&gate.cond, &gate.lock);
	gate.busy++;
	pthread_mutex_unlock(&gate.lock);
}

static void gate_leave(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.busy--;
	pthread_cond_signal(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

/* Lists whose pages are measured whenever they are parsed: all.jsonl's
 * bytes per page ride with the page's memo in the cache, so its index
 * needs no body that a listing already parsed (or a 304 confirmed). */
struct measurer {
	char *prefix;
	api_measure_fn fn;
};
static struct {
	pthread_mutex_t lock; /* a leaf: fn is called after it is dropped */
	struct measurer *v;   /* lock */
	size_t n;	      /* lock */
} measurers = { .lock = PTHREAD_MUTEX_INITIALIZER };

int api_measure_pages(const char *prefix, api_measure_fn fn)
{
	int rc = 0;
	pthread_mutex_lock(&measurers.lock);
	size_t i = 0;
	while (i < measurers.n && strcmp(measurers.v[i].prefix, prefix))
		i++;
	if (i == measurers.n) {
		struct measurer *v =
			realloc(measurers.v, (i + 1) * sizeof(*v));
		char *p = v ? strdup(prefix) : NULL;
		if (v)
			measurers.v = v;
		if (p) {
			v[i] = (struct measurer){ p, fn };
			measurers.n++;
		} else {
			rc = -1;
		}
	}
	pthread_mutex_unlock(&measurers.lock);
	return rc;
}

static api_measure_fn measurer_for(const char *key)
{
	api_measure_fn fn = NULL;
	pthread_mutex_lock(&measurers.lock);
	for (size_t i = 0; i < measurers.n && !fn; i++) {
		size_t n = strlen(measurers.v[i].prefix);
		/* The path itself, then its paging query. */
		if (!strncmp(key, measurers.v[i].prefix, n) &&
		    (key[n] == '&' || key[n] == '?' || !key[n]))
			fn = measurers.v[i].fn;
	}
	pthread_mutex_unlock(&measurers.lock);
	return fn;
}

/* ---- rounds of changes (see the top) -------------------------------- */

static int add_app_id(const cJSON *item, const char *page_key, void *ud)
{
	const char *id = json_str(item, "applicationId");
	uint64_t *sum = ud;
	(void)page_key;
	if (id)
		*sum += buf_hash(id, strlen(id)) | 1; /* in any order */
	return 0;
}

/* The set of application ids now (their list revalidated first). */
static bool apps_now(uint64_t *sum)
{
	uint64_t sig;
	bool unchanged;
	struct api_status st;
	*sum = 0;
	cache_age_prefix("/v1/applications?");
	return api_list("/v1/applications", 0, add_app_id, sum, &sig,
			&unchanged, &st) == API_OK;
}

static int verdict(const char *key, const char *memo, const struct blob *ids,
		   void *ud)
{
	return delta_verdict(key, memo, ids, ud);
}

/* Before a walk of path: start its resource's chain of marks, or run the
 * round that is due. */
static void changes_round(const char *path)
{
	struct round *r = round_of(path);
	uint64_t apps;
	if (!r)
		return;
	pthread_mutex_lock(&deltas.lock);
	while (r->busy)
		pthread_cond_wait(&deltas.done, &deltas.lock);
	bool first = !r->has_mark;
	if (!first && clock_ms() < r->checked_ms + deltas.ttl_ms) {
		pthread_mutex_unlock(&deltas.lock);
		return;
	}
	char since[32], mark[32];
	memcpy(since, r->mark, sizeof(since));
	bool marked = mark_now_locked(mark, sizeof(mark));
	r->busy = true;
	pthread_mutex_unlock(&deltas.lock);

	bool ok = false, renew = false;
	cJSON *body = NULL;
	size_t renewed = 0;
	if (first) {
		/* Every page of the walk that follows is newer than mark. */
		ok = marked && apps_now(&apps);
	} else {
		/* A platform that just failed is not asked twice: the walk
		 * serves what is cached (stale-if-error). */
		bool have_apps = apps_now(&apps) && !cache_offline();
		uint64_t gen = cache_generation();
		char key[API_PATH_MAX], esc[64];
		snprintf(key, sizeof(key), "%s?updatedSince=%s&limit=%d",
			 r->prefix, api_escape(since, esc, sizeof(esc)),
			 API_DELTA_MAX_ITEMS);
		if (have_apps) {
			struct http_resp rs;
			enum api_err result = api_fetch(key, NULL, false, &rs);
			if (result == API_OK && rs.status == 200)
				body = json_parse(rs.body.data ? rs.body.data
							       : "",
						  rs.body.len);
			http_resp_free(&rs);
		}
		const cJSON *items =
			cJSON_GetObjectItemCaseSensitive(body, "items");
		const char *more = json_str(body, "nextToken");
		pthread_mutex_lock(&deltas.lock);
		bool same_apps = r->has_apps_sig && r->apps_sig == apps;
		pthread_mutex_unlock(&deltas.lock);
		ok = marked && have_apps && cJSON_IsArray(items) &&
		     !(more && *more);
		renew = ok && same_apps;
		if (renew) {
			struct delta_changes ch = { items,
						    delta_id_field(r->prefix),
						    r->prefix };
			renewed = cache_renew_prefix(r->prefix, gen, verdict,
						     &ch);
		}
		log_debug("%s: %d changed since %s; %zu cached pages still "
			  "stand%s",
			  r->prefix, cJSON_GetArraySize(items), since, renewed,
			  renew ? "" : " (revalidating every page)");
	}
	cJSON_Delete(body);
	pthread_mutex_lock(&deltas.lock);
	if (ok) {
		/* A round that renewed nothing leaves the mark where it was:
		 * pages it did not touch must still be covered by the next. */
		if (first || renew) {
			memcpy(r->mark, mark, sizeof(r->mark));
			r->has_mark = true;
		}
		r->apps_sig = apps;
		r->has_apps_sig = true;
	}
	r->checked_ms = clock_ms();
	r->busy = false;
	pthread_cond_broadcast(&deltas.done);
	pthread_mutex_unlock(&deltas.lock);
}

/* ---- walking lists -------------------------------------------------- */

/* One pass over the pages. With fn NULL only the versions are needed
 * (the signature, and pfn's page infos): pages are parsed only where the
 * cache lacks their memo, or, for pfn, their measure. */
static enum api_err walk(const char *path, api_item_fn fn, void *ud,
			 api_page_fn pfn, void *pud, uint64_t *sig,
			 struct api_status *st)
{
	char key[API_PATH_MAX];
	char *next = NULL;
	enum api_err result = API_OK;
	/* The hash of the page versions: equal iff every page kept its
	 * bytes. */
	uint64_t h = BUF_HASH_SEED;

	changes_round(path);
	for (int page = 0;; page++) {
		if (page_key(key, sizeof(key), path, next)) {
			result = API_E_BAD_RESPONSE;
			break;
		}
		free(next);
		next = NULL;
		struct cache_doc doc;
		if (!fn) {
			/* Versions are enough: a page's memo (its nextToken)
			 * spares its body, even once evicted. */
			struct cache_meta m;
			result = cache_get_meta(key, &m, &doc, st);
			if (result)
				break;
			if (m.memo && pfn && !m.has_aux && measurer_for(key)) {
				/* Parsed before its list was measured: parse
				 * it again (from the cache if it is there). */
				free(m.memo);
				m.memo = NULL;
				result = cache_get(key, &doc, st);
				if (result)
					break;
			}
			if (m.memo) {
				h = buf_hash_continue(h, &m.version,
						      sizeof(m.version));
				struct api_page_info pi = { key, m.version,
							    m.has_aux, m.aux };
				if (pfn && pfn(&pi, pud)) {
					free(m.memo);
					result = API_E_NOMEM;
					break;
				}
				if (!*m.memo) {
					free(m.memo); /* the last page */
					break;
				}
				next = m.memo;
				continue;
			}
		} else {
			prefetch_cancel(key);
			result = cache_get(key, &doc, st);
			if (result)
				break;
		}
		h = buf_hash_continue(h, &doc.version, sizeof(doc.version));
		gate_enter(); /* the callbacks make no request: no nesting */
		struct parsememo_ref *parsed;
		const cJSON *body =
			parsememo_get(key, doc.version, doc.body->data,
				      doc.body->len, &parsed);
		const cJSON *items =
			cJSON_GetObjectItemCaseSensitive(body, "items");
		if (!cJSON_IsArray(items)) {
			result = !body && errno == ENOMEM ? API_E_NOMEM
							  : API_E_BAD_RESPONSE;
			if (result == API_E_BAD_RESPONSE)
				log_warn("GET %s: not a list response", key);
			parsememo_put(parsed);
			gate_leave();
			cache_doc_release(&doc);
			break;
		}
		const char *nt = json_str(body, "nextToken");
		char next_key[API_PATH_MAX];
		if (nt && *nt &&
		    !page_key(next_key, sizeof(next_key), path, nt))
			prefetch_page(
				next_key); /* fetched while this renders */
		api_measure_fn mf = measurer_for(key);
		struct api_page_info pi = { key, doc.version, false, 0 };
		/* A page measured before in this version is not again: every
		 * view walks the same pages. */
		if (mf && cache_aux_of(key, doc.version, &pi.len)) {
			pi.has_len = true;
			mf = NULL;
		}
		if (mf)
			pi.has_len = true;
		const cJSON *it;
		cJSON_ArrayForEach (it, items) {
			if (fn && fn(it, key, ud)) {
				result = API_E_NOMEM;
				break;
			}
			/* Right after fn: a pretty render of it that fn made
			 * tells its line's size (json_line_len). */
			size_t n = mf ? mf(it) : 0;
			if (n ==
			    SIZE_MAX) { /* too deep to render: unmeasured */
				pi.has_len = false;
				mf = NULL;
			} else {
				pi.len += n;
			}
		}
		pi.has_len &= !result;
		const char *id_field = delta_id_field(key);
		if (!result)
			cache_set_memo(key, &doc, nt ? nt : "",
				       pi.has_len ? &pi.len : NULL);
		if (!result && id_field)
			cache_set_ids(key, &doc,
				      delta_ids_new(items, id_field));
		if (!result && pfn && pfn(&pi, pud))
			result = API_E_NOMEM;
		cache_doc_release(&doc);
		if (nt && *nt && !result)
			next = strdup(nt);
		parsememo_put(parsed);
		gate_leave();
		if (result || !next)
			break;
	}
	free(next);
	*sig = h ? h : 1;
	return result;
}

enum api_err api_list(const char *path, uint64_t known_sig, api_item_fn fn,
		      void *ud, uint64_t *sig, bool *unchanged,
		      struct api_status *st)
{
	*unchanged = false;
	if (!known_sig)
		return walk(path, fn, ud, NULL, NULL, sig, st);
	enum api_err result = walk(path, NULL, NULL, NULL, NULL, sig, st);
	if (result)
		return result;
	if (*sig == known_sig) {
		*unchanged = true;
		return API_OK;
	}
	/* Changed: the pages are now in the cache, so this pass is local. */
	return walk(path, fn, ud, NULL, NULL, sig, st);
}

enum api_err api_list_pages(const char *path, api_page_fn fn, void *ud,
			    uint64_t *sig, struct api_status *st)
{
	return walk(path, NULL, NULL, fn, ud, sig, st);
}

enum api_err api_page(const char *page_key, api_item_fn fn, void *ud,
		      struct api_status *st)
{
	struct cache_doc doc;
	enum api_err result = cache_get(page_key, &doc, st);
	if (result)
		return result;
	gate_enter();
	struct parsememo_ref *parsed;
	const cJSON *body = parsememo_get(
		page_key, doc.version, doc.body->data, doc.body->len, &parsed);
	cache_doc_release(&doc);
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(body, "items");
	const cJSON *it;
	if (!cJSON_IsArray(items))
		result = !body && errno == ENOMEM ? API_E_NOMEM
						  : API_E_BAD_RESPONSE;
	cJSON_ArrayForEach (it, items) {
		if (fn(it, page_key, ud)) {
			result = API_E_NOMEM;
			break;
		}
	}
	parsememo_put(parsed);
	gate_leave();
	return result;
}

/* ---- actions ------------------------------------------------------ */

enum api_err api_send(const char *method, const char *path,
		      const char *content_type, const char *body,
		      size_t body_len, const char *idem_key, cJSON **out,
		      struct api_status *st)
{
	bool is_post = strcmp(method, "POST") == 0;
	struct http_req rq = {
		.method = method,
		.content_type = body ? content_type : NULL,
		.body = body,
		.body_len = body_len,
		.idempotency_key = idem_key,
		/* A POST is safe to repeat only under its Idempotency-Key;
		 * PUT, PATCH and DELETE are idempotent by definition. */
		.retryable = !is_post || idem_key,
	};
	struct http_resp rs;
	enum api_err result = authed_do(&rq, path, &rs);
	if (out)
		*out = NULL;
	if (result == API_OK && out && rs.body.len) {
		*out = json_parse(rs.body.data, rs.body.len);
		if (!*out)
			result = API_E_BAD_RESPONSE;
	}
	if (st)
		*st = rs.st;
	http_resp_free(&rs);
	return result;
}
