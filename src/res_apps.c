/* res_apps.c - applications: apps/, apps/NAME/ and what they hold.
 *
 * apps/NAME/ shows the application object (app.json; rm deletes the app),
 * its primary instance's endpoints and OpenAPI spec (writable: truncate,
 * write, close uploads), a "scan" control, and link directories to its
 * scans and findings (named as in scans/: it refers to res_scans, never
 * the other way). apps/new creates an application. Calls api, appref,
 * restab and ctlinput helpers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/appref.h"
#include "apisecfs/ctlinput.h"
#include "apisecfs/esc.h"
#include "apisecfs/json.h"
#include "apisecfs/log.h"
#include "apisecfs/restab.h"
#include "apisecfs/rowwalk.h"
#include "apisecfs/scanhist.h"

/* ---- files -------------------------------------------------------- */

static int app_remove(const struct kind_ctx *c)
{
	return restab_delete("/v1/applications", c->id, "application",
			     "deleted");
}

static const struct kind app_json_kind = {
	.name = "app.json",
	.type = KIND_FILE,
	.scope = "apps:read",
	.remove = app_remove,
	.remove_scope = "apps:delete",
};

/* endpoints: one "METHOD /path" line each, over every page. Both come
 * from an uploaded spec, so they are escaped as ls -b would (esc.h, with
 * backslashes doubled): a path holding a newline cannot forge a line, and
 * the escaping can be undone. */
static int endpoint_line(const cJSON *e, const char *page_key, void *ud)
{
	const char *m = json_str(e, "method");
	const char *p = json_str(e, "path");
	(void)page_key;
	if (!m || !p)
		return 0;
	return esc_buf(ud, m, strlen(m), ESC_BACKSLASH) ||
	       buf_append(ud, " ", 1) ||
	       esc_buf(ud, p, strlen(p), ESC_BACKSLASH) ||
	       buf_append(ud, "\n", 1);
}

static int endpoints_render(const struct kind_ctx *c, struct buf *out,
			    time_t *mtime)
{
	char path[API_PATH_MAX];
	struct api_status st = { 0 };
	uint64_t sig;
	bool unchanged;
	(void)mtime;
	int rc = appref_instance_path(path, sizeof(path), c->id, c->ctx,
				      "/endpoints");
	if (rc)
		return rc;
	enum api_err result =
		api_list(path, 0, endpoint_line, out, &sig, &unchanged, &st);
	return result == API_E_NOMEM ? -EFBIG : restab_errno(result, &st);
}

static const struct kind endpoints_kind = {
	.name = "endpoints",
	.type = KIND_FILE,
	.scope = "apps:read",
	.render = endpoints_render,
};

/* spec.json / spec.yaml: truncate + write + close uploads (PUT). */
static bool never_complete(const char *data, size_t len)
{
	(void)data, (void)len;
	return false; /* a document is whole only at close */
}

static int spec_upload(const struct kind_ctx *c, const char *data, size_t len,
		       const char *idem, struct buf *reply)
{
	char path[API_PATH_MAX];
	struct api_status st;
	(void)idem, (void)reply;
	int rc = appref_instance_path(path, sizeof(path), c->id, c->ctx,
				      "/spec");
	if (rc)
		return rc;
	size_t i = 0;
	while (i < len && (data[i] == ' ' || data[i] == '\n'))
		i++;
	const char *ctype = i < len && data[i] == '{' ? "application/json"
						      : "application/yaml";
	enum api_err result =
		api_send("PUT", path, ctype, data, len, NULL, NULL, &st);
	if (result == API_OK)
		log_info("spec of application %s uploaded (%zu bytes)", c->id,
			 len);
	return restab_errno(result, &st);
}

static const struct ctl_ops spec_ops = {
	.complete = never_complete,
	.act = spec_upload,
};

static const struct kind spec_kind = {
	.name = "spec",
	.type = KIND_FILE,
	.scope = "apps:read",
	.write_scope = "apps:write",
	.ctl = &spec_ops,
};

/* ---- controls ----------------------------------------------------- */

/* Input: nothing in particular (scan everything) or a JSON object with
 * "endpointIds". */
static int app_scan_act(const struct kind_ctx *c, const char *data, size_t len,
			const char *idem, struct buf *reply)
{
	bool json = false;
	size_t i = 0;
	while (i < len && (data[i] == ' ' || data[i] == '\n'))
		i++;
	if (i < len && data[i] == '{') {
		cJSON *in = json_parse(data, len);
		const cJSON *ids =
			cJSON_GetObjectItemCaseSensitive(in, "endpointIds");
		json = in && (!ids || cJSON_IsArray(ids));
		cJSON_Delete(in);
		if (!json) {
			log_warn("%s: expected {\"endpointIds\": [...]}",
				 c->name);
			return -EINVAL;
		}
	}
	return appref_start_scan(c->id, c->ctx, json ? data : NULL, len, idem,
				 reply);
}

static const struct kind app_scan_kind = KIND_CTL_ACT(
	"scan", "scans:write", ctlinput_line_or_json, app_scan_act);

/* apps/new: {"applicationName","hostUrl","teamId"?,"oas"?,"oasUrl"?} */
static int app_new_act(const struct kind_ctx *c, const char *data, size_t len,
		       const char *idem, struct buf *reply)
{
	(void)c;
	cJSON *in = json_parse(data, len);
	cJSON *resp = NULL;
	struct api_status st;
	int rc = 0;
	if (!json_str(in, "applicationName") || !json_str(in, "hostUrl")) {
		log_warn("apps/new: expected JSON {\"applicationName\": ..., "
			 "\"hostUrl\": ...}");
		rc = -EINVAL;
	}
	if (!rc) {
		enum api_err result = api_send("POST", "/v1/applications",
					       "application/json", data, len,
					       idem, &resp, &st);
		rc = restab_errno(result, &st);
	}
	const char *id = json_str(resp, "applicationId");
	if (!rc && !id)
		rc = -EIO;
	if (!rc) {
		log_info("application %s created", id);
		if (buf_printf(reply, "%s\n", id))
			rc = -ENOMEM;
	}
	cJSON_Delete(resp);
	cJSON_Delete(in);
	return rc;
}

static const struct kind app_new_kind = KIND_CTL_ACT(
	"apps/new", "apps:write", ctlinput_line_or_json, app_new_act);

/* ---- link directories --------------------------------------------- */

static const struct kind scan_link_kind = {
	.name = "scan link",
	.type = KIND_LINK,
};

static const char *const all_scans[] = { "/v1/scans", NULL };
static const struct res_row app_scans_row = {
	.path = "/v1/scans",
	.filter = "applicationId",
	.index_paths = all_scans,
	.filter_from_id = true,
	.id_field = "scanId",
	.ext = "",
	.shape = RES_LINK,
	.child = &scan_link_kind,
	.link_to = "../../../scans/",
	/* Named as in scans/, and pointing there. */
	.reserved = res_scans_reserved,
	.link_reserved = res_scans_reserved,
};
static const struct res_row app_vulns_row = {
	RES_VULN_LINKS("applicationId"),
};

static const struct kind app_scans_kind = {
	.name = "app scans",
	.type = KIND_DIR,
	.scope = "scans:read",
	.row = &app_scans_row,
};
static const struct kind app_vulns_kind = {
	.name = "app vulns",
	.type = KIND_DIR,
	.scope = "vulns:read",
	.row = &app_vulns_row,
};

/* ---- apps/NAME/ --------------------------------------------------- */

/* Add spec.json or spec.yaml, named after what the platform serves. */
static int add_spec(struct listing *out, const char *app, const char *inst)
{
	char path[API_PATH_MAX];
	struct cache_doc doc;
	struct api_status st;
	if (appref_instance_path(path, sizeof(path), app, inst, "/spec"))
		return 0;
	enum api_err result = api_get_doc(path, &doc, &st);
	if (result == API_E_NOT_FOUND)
		return 0; /* no spec uploaded */
	if (result)
		return restab_errno(result, &st);
	const char *name =
		strstr(doc.content_type, "yaml") ? "spec.yaml" : "spec.json";
	int rc = listing_add(out, name, &spec_kind, app, inst,
			     blob_ref(doc.body), NULL, 0);
	api_doc_release(&doc);
	return rc;
}

static int app_list(const struct kind_ctx *c, struct listing *out)
{
	cJSON *app = restab_obj(c);
	if (!app)
		return -EIO;
	const char *inst = appref_primary_instance(app);
	time_t mt = restab_mtime(app);
	int rc = listing_add(out, "app.json", &app_json_kind, c->id, NULL,
			     restab_pretty(app), NULL, mt);
	if (!rc)
		rc = restab_add(out, "scans", &app_scans_kind, c->id, NULL);
	if (!rc)
		rc = restab_add(out, "vulns", &app_vulns_kind, c->id, NULL);
	if (!rc && inst) {
		rc = restab_add(out, "endpoints", &endpoints_kind, c->id,
				inst);
		if (!rc)
			rc = restab_add(out, "scan", &app_scan_kind, c->id,
					inst);
		if (!rc)
			rc = add_spec(out, c->id, inst);
		if (!rc)
			rc = scanhist_add_latest(out, inst);
	}
	/* latest and the spec's name change over time: see res_scans.c. */
	out->sig = restab_entries_sig(out);
	cJSON_Delete(app);
	return rc;
}

static const struct kind app_kind = {
	.name = "app",
	.type = KIND_DIR,
	.scope = "apps:read",
	.list = app_list,
	.entries_remove_scope = "apps:delete",
};

/* ---- apps/ -------------------------------------------------------- */

static const struct res_row apps_row = {
	.path = "/v1/applications",
	.id_field = "applicationId",
	.name_field = "applicationName",
	.ext = "",
	.shape = RES_DIR,
	.child = &app_kind,
	.reserved = appref_apps_reserved,
	.new_ctl = &app_new_kind,
};

const struct kind res_apps_kind = {
	.name = "apps",
	.type = KIND_DIR,
	.scope = "apps:read",
	.row = &apps_row,
};
