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
 * api (cached lists), names and listing helpers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/auth.h"
#include "apisecfs/json.h"
#include "apisecfs/log.h"
#include "apisecfs/names.h"
#include "apisecfs/restab.h"
#include "apisecfs/scanhist.h"

/* ---- an instance's Completed scans -------------------------------- */

struct pick {
	const char *inst;
	/* Only scans ordered before (before_t, before_id); none: newest. */
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

static int pick_item(const cJSON *it, const char *page_key, void *ud)
{
	struct pick *p = ud;
	const char *id = json_str(it, "scanId");
	const char *inst = json_str(it, "instanceId");
	const char *status = json_str(it, "status");
	(void)page_key;
	if (!id || !*id || !inst || strcmp(inst, p->inst) || !status ||
	    strcmp(status, "Completed"))
		return 0;
	time_t t = json_time(it, "completedAt");
	if (p->before_id && !earlier(t, id, p->before_t, p->before_id))
		return 0;
	if (p->best_id && !earlier(p->best_t, p->best_id, t, id))
		return 0;
	char *dup = strdup(id);
	if (!dup)
		return -1;
	free(p->best_id);
	p->best_id = dup;
	p->best_t = t;
	return 0;
}

/* The scan p asks for among application app's scans: 0 with p->best_id
 * set (or NULL: none), or -errno. */
static int pick_scan(const char *app, struct pick *p)
{
	char path[API_PATH_MAX], esc[API_PATH_MAX / 2];
	struct api_status st = { 0 };
	uint64_t sig;
	bool unchanged;
	/* The same query (and cache key) as apps/NAME/scans/. */
	int n = snprintf(path, sizeof(path), "/v1/scans?applicationId=%s",
			 api_escape(app, esc, sizeof(esc)));
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	enum api_err result = api_list(path, 0, pick_item, p, &sig, &unchanged,
				       &st);
	if (result) {
		free(p->best_id);
		p->best_id = NULL;
	}
	return result == API_E_NOMEM ? -ENOMEM : restab_errno(result, &st);
}

static const struct kind history_link_kind = {
	.name = "scan history link", .type = KIND_LINK,
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

int scanhist_add_latest(struct listing *out, const char *app,
			const char *inst)
{
	/* Without scans:read the list is refused: no link rather than an
	 * error for the whole directory. */
	if (!auth_has_scope("scans:read"))
		return 0;
	struct pick p = { .inst = inst };
	int rc = pick_scan(app, &p);
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

static int finding_item(const cJSON *it, const char *page_key, void *ud)
{
	struct findings *f = ud;
	const char *id = json_str(it, "vulnerabilityId");
	const char *fp = json_str(it, "fingerprint");
	(void)page_key;
	if (!id || !*id)
		return 0;
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
	x->mtime = restab_mtime(it);
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

/* Every finding of scan (the query and cache key of scans/ID/vulns/). */
static int scan_findings(const char *scan, struct findings *f)
{
	char path[API_PATH_MAX], esc[API_PATH_MAX / 2];
	struct api_status st = { 0 };
	bool unchanged;
	int n = snprintf(path, sizeof(path), "/v1/vulnerabilities?scanId=%s",
			 api_escape(scan, esc, sizeof(esc)));
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	enum api_err result = api_list(path, 0, finding_item, f, &f->sig,
				       &unchanged, &st);
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
	.name = "diff link", .type = KIND_LINK,
};

/* Add the links of the findings of f marked in keep, named as
 * scans/ID/vulns/ names them. */
static int add_links(struct listing *out, struct findings *f,
		     const bool *keep)
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

static int diff_persisting_list(const struct kind_ctx *c,
				struct listing *out)
{
	return diff_list(c, out, DIFF_PERSISTING);
}

static int diff_fixed_list(const struct kind_ctx *c, struct listing *out)
{
	return diff_list(c, out, DIFF_FIXED);
}

static const struct kind diff_new_kind = {
	.name = "diff/new", .type = KIND_DIR, .scope = "vulns:read",
	.list = diff_new_list,
};
static const struct kind diff_persisting_kind = {
	.name = "diff/persisting", .type = KIND_DIR, .scope = "vulns:read",
	.list = diff_persisting_list,
};
static const struct kind diff_fixed_kind = {
	.name = "diff/fixed", .type = KIND_DIR, .scope = "vulns:read",
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
	.name = "diff", .type = KIND_DIR, .scope = "vulns:read",
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
	int rc = pick_scan(app, &p);
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
