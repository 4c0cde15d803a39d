/* appref.c - an application by reference, for the kinds that act on one:
 * its primary instance, its instances' paths, the application a name
 * under apps/ (or an id) stands for, and starting its scan. apps/NAME/scan
 * (res_apps.c) and scans/new (res_scans.c) both start scans; keeping this
 * below both is what lets res_apps refer to res_scans and not back.
 * Stateless. Calls api, json, log, names and restab.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/appref.h"
#include "apisecfs/json.h"
#include "apisecfs/log.h"
#include "apisecfs/names.h"
#include "apisecfs/restab.h"

const char *const appref_apps_reserved[] = { "new", NULL };

const char *appref_primary_instance(const cJSON *app)
{
	const cJSON *inst = cJSON_GetObjectItemCaseSensitive(app, "instances");
	return json_str(cJSON_GetArrayItem(inst, 0), "instanceId");
}

int appref_instance_path(char *out, size_t outsz, const char *app,
			 const char *inst, const char *tail)
{
	char ea[API_PATH_MAX / 4], ei[API_PATH_MAX / 4];
	int n = snprintf(out, outsz, "/v1/applications/%s/instances/%s%s",
			 api_escape(app, ea, sizeof(ea)),
			 api_escape(inst, ei, sizeof(ei)), tail);
	return (n < 0 || (size_t)n >= outsz) ? -ENAMETOOLONG : 0;
}

int appref_start_scan(const char *app, const char *inst, const char *body,
		      size_t len, const char *idem, struct buf *reply)
{
	char path[API_PATH_MAX];
	struct api_status st;
	cJSON *resp = NULL;
	int rc = appref_instance_path(path, sizeof(path), app, inst, "/scans");
	if (rc)
		return rc;
	enum api_err result =
		api_send("POST", path, "application/json", body ? body : "{}",
			 body ? len : 2, idem, &resp, &st);
	rc = restab_errno(result, &st);
	const char *id = json_str(resp, "scanId");
	if (!rc && !id)
		rc = -EIO;
	if (!rc) {
		log_info("scan %s of application %s started", id, app);
		if (buf_printf(reply, "%s\n", id))
			rc = -ENOMEM;
	}
	cJSON_Delete(resp);
	return rc;
}

struct app_ref {
	char *id, *inst, *api_name;
};

struct resolve {
	struct app_ref *v;
	size_t n, alloc;
};

static int resolve_item(const cJSON *it, const char *page_key, void *ud)
{
	(void)page_key;
	struct resolve *r = ud;
	const char *id = json_str(it, "applicationId");
	const char *inst = appref_primary_instance(it);
	const char *name = json_str(it, "applicationName");
	if (!id)
		return 0;
	if (r->n == r->alloc) {
		size_t na = r->alloc ? r->alloc * 2 : 64;
		struct app_ref *v = realloc(r->v, na * sizeof(*v));
		if (!v)
			return -1;
		r->v = v;
		r->alloc = na;
	}
	struct app_ref *a = &r->v[r->n++];
	a->id = strdup(id);
	a->inst = inst ? strdup(inst) : NULL;
	a->api_name = name ? strdup(name) : NULL;
	return 0;
}

int appref_resolve(const char *word, char **app_id, char **inst_id)
{
	struct resolve r = { 0 };
	struct api_status st;
	struct names_entry *ne = NULL;
	uint64_t sig;
	bool unchanged;
	int rc;

	*app_id = *inst_id = NULL;
	enum api_err result = api_list("/v1/applications", 0, resolve_item, &r,
				       &sig, &unchanged, &st);
	if (result) {
		rc = restab_errno(result, &st);
		goto out;
	}
	rc = -ENOMEM;
	ne = calloc(r.n ? r.n : 1, sizeof(*ne));
	if (!ne)
		goto out;
	for (size_t i = 0; i < r.n; i++) {
		ne[i].id = r.v[i].id;
		ne[i].api_name = r.v[i].api_name;
	}
	if (names_assign(ne, r.n, "", appref_apps_reserved))
		goto out;
	rc = -ENOENT;
	for (size_t i = 0; i < r.n && rc == -ENOENT; i++) {
		const struct app_ref *a = &r.v[i];
		if (!a->id ||
		    (strcmp(ne[i].name, word) && strcmp(a->id, word)))
			continue;
		if (!a->inst) {
			log_warn("application %s has no instance to scan",
				 a->id);
			continue;
		}
		*app_id = strdup(a->id);
		*inst_id = strdup(a->inst);
		rc = (*app_id && *inst_id) ? 0 : -ENOMEM;
	}
	for (size_t i = 0; i < r.n; i++)
		free(ne[i].name);
out:
	free(ne);
	for (size_t i = 0; i < r.n; i++) {
		free(r.v[i].id);
		free(r.v[i].inst);
		free(r.v[i].api_name);
	}
	free(r.v);
	return rc;
}
