/* restab.c - what every resource shares: an API object's mtime and
 * renderings, API outcomes as errnos, item paths, a DELETE, fixed entries
 * and their signature.
 *
 * Holds no state. The rows themselves (struct res_row, restab.h) are
 * walked by rowwalk.c; this file is below it and below linkidx.c, which
 * both use its helpers. Calls api (a cached GET, a DELETE), json and log.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apisecfs/api.h"
#include "apisecfs/json.h"
#include "apisecfs/log.h"
#include "apisecfs/restab.h"

time_t restab_mtime(const cJSON *obj)
{
	time_t t = json_time(obj, "updatedAt");
	if (!t)
		t = json_time(obj, "completedAt");
	if (!t)
		t = json_time(obj, "createdAt");
	return t;
}

static struct blob *render_blob(const cJSON *obj, bool pretty)
{
	struct buf b;
	buf_init(&b, HTTP_MAX_BODY);
	int rc = pretty ? json_render_pretty(obj, &b)
			: json_render_line(obj, &b);
	struct blob *bl = rc ? NULL : blob_from_buf(&b);
	buf_free(&b, false);
	return bl;
}

struct blob *restab_pretty(const cJSON *obj)
{
	return render_blob(obj, true);
}

struct blob *restab_compact(const cJSON *obj)
{
	return render_blob(obj, false);
}

cJSON *restab_obj(const struct kind_ctx *c)
{
	return c->obj ? json_parse(c->obj->data, c->obj->len) : NULL;
}

int restab_errno(enum api_err err, const struct api_status *st)
{
	return -errmap_to_errno(err, st);
}

int restab_append_doc(struct buf *out, const char *path, time_t *mtime)
{
	struct cache_doc doc;
	struct api_status st;
	enum api_err result = api_get_doc(path, &doc, &st);
	if (result)
		return restab_errno(result, &st);
	int rc = buf_append(out, doc.body->data, doc.body->len) ? -EFBIG : 0;
	api_doc_release(&doc);
	if (mtime)
		*mtime = 0;
	return rc;
}

int restab_item_path(char *out, size_t outsz, const char *collection,
		     const char *id, const char *tail)
{
	char esc[API_PATH_MAX / 2];
	int n = snprintf(out, outsz, "%s/%s%s", collection,
			 api_escape(id ? id : "", esc, sizeof(esc)),
			 tail ? tail : "");
	return (n < 0 || (size_t)n >= outsz) ? -ENAMETOOLONG : 0;
}

int restab_delete(const char *collection, const char *id, const char *what,
		  const char *done)
{
	char path[API_PATH_MAX];
	struct api_status st = { 0 };
	int rc = restab_item_path(path, sizeof(path), collection, id, NULL);
	if (rc)
		return rc;
	enum api_err result =
		api_send("DELETE", path, NULL, NULL, 0, NULL, NULL, &st);
	if (result == API_OK)
		log_info("%s %s %s", what, id, done);
	return restab_errno(result, &st);
}

int restab_add(struct listing *out, const char *name, const struct kind *k,
	       const char *id, const char *ctx)
{
	return listing_add(out, name, k, id, ctx, NULL, NULL, 0);
}

uint64_t restab_entries_sig(const struct listing *l)
{
	uint64_t sig = BUF_HASH_SEED;
	for (size_t i = 0; i < l->n; i++) {
		const struct listing_entry *e = &l->v[i];
		uint64_t parts[2] = { buf_hash(e->name, strlen(e->name)),
				      e->kind->type == KIND_LINK && e->content
					      ? buf_hash(e->content->data,
							 e->content->len)
					      : 0 };
		sig = buf_hash_continue(sig, parts, sizeof(parts));
	}
	return sig ? sig : 1;
}
