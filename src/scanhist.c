/* scanhist.c - previous, latest and the diff views of scans (see
 * scanhist.h).
 *
 * Order: an instance's Completed scans by completedAt, then by scanId (ids
 * sort in creation order), the platform's own rule for "the previous
 * scan". The diff sets are fingerprint-set arithmetic over the two scans'
 * findings: new = this scan's findings whose fingerprint the previous one
 * did not report, persisting = the rest of this scan's, fixed = the
 * previous scan's findings whose fingerprint this one did not report. A
 * finding without a fingerprint matches nothing (new, or fixed). Calls
 * api (cached lists), linkidx (findings by scan), names and listing
 * helpers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/auth.h"
#include "apisecfs/json.h"
#include "apisecfs/linkidx.h"
#include "apisecfs/log.h"
#include "apisecfs/names.h"
#include "apisecfs/restab.h"
#include "apisecfs/scanhist.h"

/* ---- the Completed scans ------------------------------------------ */

struct done_scan {
	char *inst, *id;
	time_t t; /* completedAt */
};

/* The Completed scans of every instance, as of one version of the list
 * scans/ walks (/v1/scans: its pages are cached anyway, and
 * apps/NAME/scans/ comes from them too). Listing scans/ID/ for every scan
 * (find, grep -r) would otherwise parse the whole list once a scan: 13 s
 * for 1,000 scans. Each use first checks the list's signature (page
 * versions through the cache, as any listing does: no parse, and after
 * the TTL the round of changes), so the memo never outlives the list. */
#define SCANS_PATH "/v1/scans"

struct history {
	uint64_t sig;
	struct done_scan *v;
	size_t n, alloc;
};

/* memo.lock protects h and valid; a leaf, never held across a request. */
static struct {
	pthread_mutex_t lock;
	struct history h;
	bool valid;
} memo = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void history_clear(struct history *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].inst);
		free(h->v[i].id);
	}
	free(h->v);
	memset(h, 0, sizeof(*h));
}

void scanhist_cleanup(void)
{
	pthread_mutex_lock(&memo.lock);
	history_clear(&memo.h);
	memo.valid = false;
	pthread_mutex_unlock(&memo.lock);
}

static int done_item(const cJSON *it, const char *page_key, void *ud)
{
	struct history *h = ud;
	const char *id = json_str(it, "scanId");
	const char *inst = json_str(it, "instanceId");
	const char *status = json_str(it, "status");
	(void)page_key;
	if (!id || !*id || !inst || !status || strcmp(status, "Completed"))
		return 0;
	if (h->n == h->alloc) {
		size_t na = h->alloc ? h->alloc * 2 : 16;
		struct done_scan *v = realloc(h->v, na * sizeof(*v));
		if (!v)
			return -1;
		h->v = v;
		h->alloc = na;
	}
	struct done_scan *d = &h->v[h->n];
	d->id = strdup(id);
	d->inst = strdup(inst);
	d->t = json_time(it, "completedAt");
	if (!d->id || !d->inst) {
		free(d->id);
		free(d->inst);
		return -1;
	}
	h->n++;
	return 0;
}

/* What to pick: the newest Completed scan of inst ordered before
 * (before_t, before_id), or with no before_id the newest of all. */
struct pick {
	const char *inst;
	time_t before_t;
	const char *before_id;
	time_t best_t;
	char *best_id;
};

/* (ta, a) before (tb, b) in the history's order? */
static bool earlier(time_t ta, const char *a, time_t tb, const char *b)
{
	return ta < tb || (ta == tb && strcmp(a, b) < 0);
}

/* Pick from h (memo lock held): 0, or -ENOMEM. */
static int pick_from(const struct history *h, struct pick *p)
{
	const struct done_scan *best = NULL;
	for (size_t i = 0; i < h->n; i++) {
		const struct done_scan *d = &h->v[i];
		if (strcmp(d->inst, p->inst) ||
		    (p->before_id &&
		     !earlier(d->t, d->id, p->before_t, p->before_id)) ||
		    (best && !earlier(best->t, best->id, d->t, d->id)))
			continue;
		best = d;
	}
	if (!best)
		return 0;
	p->best_id = strdup(best->id);
	p->best_t = best->t;
	return p->best_id ? 0 : -ENOMEM;
}

/* The scan p asks for among the instance's Completed scans: 0 with
 * p->best_id set (or NULL: none), or -errno. */
static int pick_scan(struct pick *p)
{
	struct history h = { 0 };
	int rc = 0;
	/* Twice at most: another thread may replace the memo between the
	 * check and its use, and then the list is parsed after all. */
	for (int round = 0; round < 2; round++) {
		struct api_status st = { 0 };
		bool unchanged, done = false;
		pthread_mutex_lock(&memo.lock);
		uint64_t known = round == 0 && memo.valid ? memo.h.sig : 0;
		pthread_mutex_unlock(&memo.lock);
		enum api_err result = api_list(SCANS_PATH, known, done_item,
					       &h, &h.sig, &unchanged, &st);
		if (result) {
			rc = result == API_E_NOMEM ? -ENOMEM
						   : restab_errno(result, &st);
			break;
		}
		uint64_t now = h.sig;
		pthread_mutex_lock(&memo.lock);
		if (!unchanged) {
			history_clear(&memo.h);
			memo.h = h; /* moved */
			memset(&h, 0, sizeof(h));
			memo.valid = true;
		}
		if (memo.valid && memo.h.sig == now) {
			rc = pick_from(&memo.h, p);
			done = true;
		}
		pthread_mutex_unlock(&memo.lock);
		if (done)
			break;
	}
	history_clear(&h);
	return rc;
}

static const struct kind history_link_kind = {
	.name = "scan history link",
	.type = KIND_LINK,
};

/* Add a link name -> prefix + id (as scans/ names it). */
static int add_scan_link(struct listing *out, const char *name,
			 const char *prefix, const char *id, time_t mtime)
{
	char safe[NAMES_BASE_MAX + 1], target[NAMES_BASE_MAX + 64];
	names_sanitize(id, safe, sizeof(safe));
	int n = snprintf(target, sizeof(target), "%s%s", prefix, safe);
	struct blob *bl = n > 0 ? blob_new(target, (size_t)n) : NULL;
	return bl ? listing_add(out, name, &history_link_kind, NULL, NULL, bl,
				NULL, mtime)
		  : -ENOMEM;
}

int scanhist_add_latest(struct listing *out, const char *inst)
{
	/* Without scans:read the list is refused: no link rather than an
	 * error for the whole directory. */
	if (!auth_has_scope("scans:read"))
		return 0;
	struct pick p = { .inst = inst };
	int rc = pick_scan(&p);
	if (!rc && p.best_id)
		rc = add_scan_link(out, "latest", "../../scans/", p.best_id,
				   p.best_t);
	free(p.best_id);
	return rc;
}

/* ---- diff/ -------------------------------------------------------- */

enum diff_set { DIFF_NEW, DIFF_PERSISTING, DIFF_FIXED };

struct finding {
	char *id, *fp;
	time_t mtime;
};

struct findings {
	struct finding *v;
	size_t n, alloc;
	uint64_t sig;
};

static int finding_item(const char *id, time_t mtime, const char *fp, void *ud)
{
	struct findings *f = ud;
	if (f->n == f->alloc) {
		size_t na = f->alloc ? f->alloc * 2 : 64;
		struct finding *v = realloc(f->v, na * sizeof(*v));
		if (!v)
			return -1;
		f->v = v;
		f->alloc = na;
	}
	struct finding *x = &f->v[f->n];
	x->id = strdup(id);
	x->fp = fp && *fp ? strdup(fp) : NULL;
	x->mtime = mtime;
	if (!x->id || (fp && *fp && !x->fp)) {
		free(x->id);
		free(x->fp);
		return -1;
	}
	f->n++;
	return 0;
}

static void findings_free(struct findings *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].id);
		free(f->v[i].fp);
	}
	free(f->v);
}

/* Every finding of scan, from the index scans/ID/vulns/ uses (the lists
 * vulns/ walks, by scanId, with fingerprints): no request of its own. */
static int scan_findings(const char *scan, struct findings *f)
{
	struct api_status st = { 0 };
	enum api_err result = linkidx_view(
		res_vulns_streams, "scanId", "vulnerabilityId", "fingerprint",
		scan, finding_item, f, &f->sig, &st);
	return result == API_E_NOMEM ? -ENOMEM : restab_errno(result, &st);
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The fingerprints of f, sorted (pointers into f); NULL: ENOMEM. */
static char **fingerprints(const struct findings *f, size_t *n)
{
	char **v = malloc((f->n ? f->n : 1) * sizeof(*v));
	*n = 0;
	for (size_t i = 0; v && i < f->n; i++)
		if (f->v[i].fp)
			v[(*n)++] = f->v[i].fp;
	if (v)
		qsort(v, *n, sizeof(*v), by_str);
	return v;
}

static bool has_fp(char **set, size_t n, const char *fp)
{
	return fp && bsearch(&fp, set, n, sizeof(*set), by_str) != NULL;
}

static const struct kind diff_link_kind = {
	.name = "diff link",
	.type = KIND_LINK,
};

/* Add the links of the findings of f marked in keep, named as
 * scans/ID/vulns/ names them. */
static int add_links(struct listing *out, struct findings *f, const bool *keep)
{
	size_t n = 0;
	struct names_entry *ne = calloc(f->n ? f->n : 1, sizeof(*ne));
	if (!ne)
		return -ENOMEM;
	for (size_t i = 0; i < f->n; i++)
		if (keep[i])
			ne[n++].id = f->v[i].id;
	if (names_assign(ne, n, ".json", NULL)) {
		free(ne);
		return -ENOMEM;
	}
	int rc = listing_reserve(out, n);
	for (size_t i = 0, k = 0; i < f->n; i++) {
		if (!keep[i])
			continue;
		char safe[NAMES_BASE_MAX + 1], target[NAMES_BASE_MAX + 64];
		names_sanitize(f->v[i].id, safe, sizeof(safe));
		int w = snprintf(target, sizeof(target),
				 "../../../../vulns/%s.json", safe);
		struct blob *bl = rc ? NULL : blob_new(target, (size_t)w);
		char *name = ne[k++].name;
		if (!rc && !bl)
			rc = -ENOMEM;
		if (rc) {
			free(name);
			continue;
		}
		rc = listing_take(out, name, &diff_link_kind, NULL, bl, NULL,
				  f->v[i].mtime);
	}
	free(ne);
	return rc;
}

/* List diff/<set>/ of scan c->id against its previous scan c->ctx. */
static int diff_list(const struct kind_ctx *c, struct listing *out,
		     enum diff_set set)
{
	struct findings cur = { 0 }, prev = { 0 };
	char **fps = NULL;
	bool *keep = NULL;
	size_t nfps = 0;
	int rc = scan_findings(c->id, &cur);
	if (!rc)
		rc = scan_findings(c->ctx, &prev);
	if (rc)
		goto out;
	uint64_t parts[3] = { cur.sig, prev.sig, set };
	out->sig = buf_hash(parts, sizeof(parts));
	out->sig += !out->sig;
	if (c->list_sig == out->sig) {
		out->unchanged = true; /* the same two lists: the same links */
		goto out;
	}
	/* Which findings, against the other scan's fingerprints. */
	struct findings *mine = set == DIFF_FIXED ? &prev : &cur;
	fps = fingerprints(set == DIFF_FIXED ? &cur : &prev, &nfps);
	keep = calloc(mine->n ? mine->n : 1, sizeof(*keep));
	rc = fps && keep ? 0 : -ENOMEM;
	for (size_t i = 0; !rc && i < mine->n; i++) {
		bool seen = has_fp(fps, nfps, mine->v[i].fp);
		keep[i] = set == DIFF_PERSISTING ? seen : !seen;
	}
	if (!rc)
		rc = add_links(out, mine, keep);
out:
	free(fps);
	free(keep);
	findings_free(&cur);
	findings_free(&prev);
	return rc;
}

static int diff_new_list(const struct kind_ctx *c, struct listing *out)
{
	return diff_list(c, out, DIFF_NEW);
}

static int diff_persisting_list(const struct kind_ctx *c, struct listing *out)
{
	return diff_list(c, out, DIFF_PERSISTING);
}

static int diff_fixed_list(const struct kind_ctx *c, struct listing *out)
{
	return diff_list(c, out, DIFF_FIXED);
}

static const struct kind diff_new_kind = {
	.name = "diff/new",
	.type = KIND_DIR,
	.scope = "vulns:read",
	.list = diff_new_list,
};
static const struct kind diff_persisting_kind = {
	.name = "diff/persisting",
	.type = KIND_DIR,
	.scope = "vulns:read",
	.list = diff_persisting_list,
};
static const struct kind diff_fixed_kind = {
	.name = "diff/fixed",
	.type = KIND_DIR,
	.scope = "vulns:read",
	.list = diff_fixed_list,
};

/* diff/: the three sets, each knowing both scans (id, ctx). */
static int diff_dir_list(const struct kind_ctx *c, struct listing *out)
{
	int rc = restab_add(out, "new", &diff_new_kind, c->id, c->ctx);
	if (!rc)
		rc = restab_add(out, "persisting", &diff_persisting_kind,
				c->id, c->ctx);
	if (!rc)
		rc = restab_add(out, "fixed", &diff_fixed_kind, c->id, c->ctx);
	return rc;
}

static const struct kind diff_dir_kind = {
	.name = "diff",
	.type = KIND_DIR,
	.scope = "vulns:read",
	.list = diff_dir_list,
};

int scanhist_add_previous(struct listing *out, const cJSON *scan)
{
	const char *id = json_str(scan, "scanId");
	const char *app = json_str(scan, "applicationId");
	const char *status = json_str(scan, "status");
	struct pick p = { .inst = json_str(scan, "instanceId"),
			  .before_id = id,
			  .before_t = json_time(scan, "completedAt") };
	if (!id || !app || !p.inst || !status || strcmp(status, "Completed"))
		return 0;
	int rc = pick_scan(&p);
	if (!rc && p.best_id) {
		rc = add_scan_link(out, "previous", "../", p.best_id,
				   p.best_t);
		if (!rc)
			rc = restab_add(out, "diff", &diff_dir_kind, id,
					p.best_id);
	}
	free(p.best_id);
	return rc;
}
