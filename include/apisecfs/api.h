/* api.h - typed access to the platform's REST API.
 *
 * GETs go through the cache; lists follow nextToken to the end, a page at a
 * time, so memory holds one parsed page however long the list; after the
 * TTL, what changed is asked once (updatedSince) instead of every page
 * being revalidated. Every call
 * carries the credential from auth.c and, on a 401 with a renewable
 * credential, renews once and retries once. Actions (POST/PUT/PATCH/DELETE,
 * api_send) are never cached and expire nothing themselves: an action may
 * change any listing (a new scan shows in scans/, apps/NAME/scans/ and the
 * vulns/ views), so after one that succeeded the tree expires every cached
 * GET and every listing at once (sync_expire_all -> api_expire_cached).
 */
#ifndef APISECFS_API_H
#define APISECFS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "apisecfs/cache.h"
#include "apisecfs/errmap.h"

/* Items per list page: the contract's maximum, so a listing of N items
 * costs ceil(N / 500) requests. */
#define API_PAGE_LIMIT 500
/* Longest request path we build (ids and tokens are short). */
#define API_PATH_MAX 1024

struct api_opts {
	const char *base_url; /* "https://platform.example", no trailing / */
	long long ttl_ms;     /* the cache's: how often changes are asked */
	size_t parsed_max;    /* parsed pages kept for other walkers (bytes) */
};

int api_init(const struct api_opts *opts) __attribute__((warn_unused_result));
void api_cleanup(void);
/* The fetch callback cache_init needs (GET with credential; once: a
 * single try, no retries). */
enum api_err api_fetch(const char *path, const char *etag, bool once,
		       struct http_resp *rs);

/* GET /v1/me without the cache and without logging the failure as a
 * warning (the preflight reports it). Caller frees *out. */
enum api_err api_me(cJSON **out, struct api_status *st)
	__attribute__((warn_unused_result));

/* Uncached GET of path parsed as a JSON object, with the server's Date
 * (the platform's clock: what updatedSince marks are taken from). A
 * response without a Date is API_E_BAD_RESPONSE. Caller frees *out. */
enum api_err api_get_dated(const char *path, cJSON **out, time_t *date,
			   struct api_status *st)
	__attribute__((warn_unused_result));

/* Cached GET of path; the document is the caller's to release with
 * api_doc_release. */
enum api_err api_get_doc(const char *path, struct cache_doc *doc,
			 struct api_status *st)
	__attribute__((warn_unused_result));
/* Give back a document api_get_doc filled (the layers above api.c never
 * call the cache themselves). */
void api_doc_release(struct cache_doc *doc);
/* The response cache's counters, for .stats. */
void api_cache_stats(struct cache_stats *out);
/* Parsed pages: how many parses, how many walks shared a parse. */
void api_parse_stats(unsigned long *parses, unsigned long *shared,
		     size_t *bytes);
/* Cached GET parsed as JSON; caller frees *out with cJSON_Delete. A body
 * that is not valid JSON is API_E_BAD_RESPONSE. */
enum api_err api_get_json(const char *path, cJSON **out, struct api_status *st)
	__attribute__((warn_unused_result));

/* Called once per list item, in order; the item and page_key (the cache
 * key of the page it came in, for api_page) are borrowed for the call.
 * Return 0 to go on, non-zero to stop (api_list returns API_E_NOMEM). */
typedef int (*api_item_fn)(const cJSON *item, const char *page_key, void *ud);

/* Walk every page of the list at path (which may carry a query). *sig
 * receives a signature of the pages' bytes. If known_sig is non-zero and
 * equals the new signature, nothing is called back and *unchanged is set:
 * the caller's view of the list is still right. */
enum api_err api_list(const char *path, uint64_t known_sig, api_item_fn fn,
		      void *ud, uint64_t *sig, bool *unchanged,
		      struct api_status *st)
	__attribute__((warn_unused_result));

/* Pages of lists under path are measured whenever they are parsed: the
 * sum of fn's bytes over the page's items is kept with the page's memo in
 * the cache (all.jsonl registers json_line_len for its lists). */
typedef size_t (*api_measure_fn)(const cJSON *item); /* SIZE_MAX: cannot */
/* 0, or -1 when memory is short (then the pages go unmeasured). */
int api_measure_pages(const char *path, api_measure_fn fn);

struct api_page_info {
	const char *key; /* the page's cache key (for api_page) */
	uint64_t version;
	bool has_len; /* len is known: the list is measured */
	uint64_t len; /* measured bytes of the page */
};
typedef int (*api_page_fn)(const struct api_page_info *p, void *ud);
/* Walk the pages of the list at path by their versions, bodies only where
 * the cache lacks a page's memo; fn is called once a page (non-zero stops:
 * API_E_NOMEM). *sig as api_list's. */
enum api_err api_list_pages(const char *path, api_page_fn fn, void *ud,
			    uint64_t *sig, struct api_status *st)
	__attribute__((warn_unused_result));

/* Call fn for each item of one page of a list, by the page_key an
 * api_list callback was given (cached like any GET). */
enum api_err api_page(const char *page_key, api_item_fn fn, void *ud,
		      struct api_status *st)
	__attribute__((warn_unused_result));

/* An action. body may be NULL; idem_key (POST) may be NULL. On success
 * *out (if out is non-NULL) is the parsed response body or NULL when it
 * is empty; caller frees. */
enum api_err api_send(const char *method, const char *path,
		      const char *content_type, const char *body,
		      size_t body_len, const char *idem_key, cJSON **out,
		      struct api_status *st)
	__attribute__((warn_unused_result));

/* Expire every cached GET so the next read revalidates (ETag), asking
 * first what changed (updatedSince) where the API can say. */
void api_expire_cached(void);
/* Forget what is known of changes: the next listing of each resource
 * revalidates every page (a refresh asked for by the user). */
void api_forget_changes(void);

/* Percent-encode s for a query value into out; returns out. */
const char *api_escape(const char *s, char *out, size_t outsz);

#endif
