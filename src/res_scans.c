/* res_scans.c - scans: scans/, scans/ID/ and the controls that act on them.
 *
 * scans/ID/ shows the scan object (scan.json, status), its reports once it
 * has completed, a cancel control, a wait file whose read blocks until the
 * scan ends, and links to its findings. scans/new starts a scan of an
 * application named as under apps/ (appref.h resolves the name and starts
 * the scan). Calls api, appref, restab and ctlinput helpers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apisecfs/api.h"
#include "apisecfs/appref.h"
#include "apisecfs/ctlinput.h"
#include "apisecfs/json.h"
#include "apisecfs/junit.h"
#include "apisecfs/log.h"
#include "apisecfs/restab.h"
#include "apisecfs/rowwalk.h"
#include "apisecfs/scanhist.h"

static int scan_path(char *out, size_t outsz, const char *id, const char *tail)
{
	return restab_item_path(out, outsz, "/v1/scans", id, tail);
}

static bool finished(const char *status)
{
	return status && (strcmp(status, "Completed") == 0 ||
			  strcmp(status, "Failed") == 0 ||
			  strcmp(status, "Cancelled") == 0);
}

/* ---- files -------------------------------------------------------- */

static const struct kind scan_file_kind = {
	.name = "scan file",
	.type = KIND_FILE,
	.scope = "scans:read",
};

static int report_render(const struct kind_ctx *c, struct buf *out,
			 time_t *mtime)
{
	char path[API_PATH_MAX];
	char tail[32];
	snprintf(tail, sizeof(tail), "/report?format=%s", c->ctx);
	int rc = scan_path(path, sizeof(path), c->id, tail);
	return rc ? rc : restab_append_doc(out, path, mtime);
}

static const struct kind report_kind = {
	.name = "report",
	.type = KIND_FILE,
	.scope = "reports:read",
	.render = report_render,
};

/* report.junit.xml: built here from the scan's findings (the list
 * scans/ID/vulns/ walks, so vulns:read is its scope, not reports:read). */
static int junit_item(const cJSON *it, const char *page_key, void *ud)
{
	(void)page_key;
	return junit_add(ud, it);
}

static int junit_render(const struct kind_ctx *c, struct buf *out,
			time_t *mtime)
{
	char path[API_PATH_MAX], esc[API_PATH_MAX / 2];
	struct api_status st = { 0 };
	struct junit j;
	uint64_t sig;
	bool unchanged;
	int n = snprintf(path, sizeof(path), "/v1/vulnerabilities?scanId=%s",
			 api_escape(c->id, esc, sizeof(esc)));
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	junit_init(&j, junit_fail_level(), out->cap);
	enum api_err result =
		api_list(path, 0, junit_item, &j, &sig, &unchanged, &st);
	int rc = result == API_E_NOMEM ? -EFBIG : restab_errno(result, &st);
	if (!rc && junit_finish(&j, c->id, out))
		rc = -EFBIG;
	if (!rc)
		*mtime = j.mtime;
	junit_free(&j);
	return rc;
}

static const struct kind junit_kind = {
	.name = "report.junit.xml",
	.type = KIND_FILE,
	.scope = "vulns:read",
	.render = junit_render,
};

/* ---- controls ----------------------------------------------------- */

static int cancel_act(const struct kind_ctx *c, const char *data, size_t len,
		      const char *idem, struct buf *reply)
{
	char path[API_PATH_MAX];
	struct api_status st;
	cJSON *resp = NULL;
	(void)data, (void)len;
	int rc = scan_path(path, sizeof(path), c->id, "/cancel");
	if (rc)
		return rc;
	enum api_err result = api_send("POST", path, "application/json", "{}",
				       2, idem, &resp, &st);
	rc = restab_errno(result, &st);
	if (!rc) {
		log_info("scan %s cancelled", c->id);
		if (buf_printf(reply, "%s\n",
			       json_str(resp, "status")
				       ? json_str(resp, "status")
				       : "Cancelled"))
			rc = -ENOMEM;
	}
	cJSON_Delete(resp);
	return rc;
}

static const struct kind cancel_kind =
	KIND_CTL_ACT("cancel", "scans:write", ctlinput_any, cancel_act);

/* One look at the scan for scans/ID/wait (waitq.h polls): 1 with its
 * final status word as the reply once it is finished. A fresh (uncached)
 * GET. */
static int wait_poll(const struct kind_ctx *c, struct buf *reply)
{
	char path[API_PATH_MAX];
	cJSON *scan = NULL;
	struct api_status st;
	int rc = scan_path(path, sizeof(path), c->id, "");
	if (rc)
		return rc;
	enum api_err result =
		api_send("GET", path, NULL, NULL, 0, NULL, &scan, &st);
	rc = restab_errno(result, &st);
	const char *status = json_str(scan, "status");
	if (!rc && finished(status))
		rc = buf_printf(reply, "%s\n", status) ? -ENOMEM : 1;
	cJSON_Delete(scan);
	return rc;
}

static const struct ctl_ops wait_ops = {
	.poll = wait_poll,
	.blocking_read = true,
};
static const struct kind wait_kind = {
	.name = "wait",
	.type = KIND_CTL,
	.scope = "scans:read",
	.ctl = &wait_ops,
	.hidden = true,
};

/* scans/new: an application's file name (or id), or JSON
 * {"applicationId", "instanceId"?, "endpointIds"?}. */
static int json_target(const char *data, size_t len, char **app, char **inst,
		       char **body)
{
	cJSON *in = json_parse(data, len);
	const char *a = json_str(in, "applicationId");
	const char *i = json_str(in, "instanceId");
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(in, "endpointIds");
	int rc = 0;
	if (!a || (ids && !cJSON_IsArray(ids))) {
		log_warn("scans/new: expected an application name or JSON "
			 "{\"applicationId\": ..., \"endpointIds\"?: [...]}");
		rc = -EINVAL;
	} else if (i) {
		*app = strdup(a);
		*inst = strdup(i);
	} else {
		rc = appref_resolve(a, app, inst);
	}
	if (!rc && ids) {
		cJSON *b = cJSON_CreateObject();
		cJSON_AddItemToObject(b, "endpointIds",
				      cJSON_Duplicate(ids, true));
		*body = cJSON_PrintUnformatted(b);
		cJSON_Delete(b);
	}
	cJSON_Delete(in);
	return rc;
}

static int scan_new_act(const struct kind_ctx *c, const char *data, size_t len,
			const char *idem, struct buf *reply)
{
	char *app = NULL, *inst = NULL, *body = NULL;
	char *word = ctlinput_word(data, len);
	int rc;
	(void)c;
	if (!word)
		rc = -EINVAL;
	else if (word[0] == '{')
		rc = json_target(word, strlen(word), &app, &inst, &body);
	else if (strchr(word, '\n'))
		rc = -EINVAL; /* one application per open */
	else
		rc = appref_resolve(word, &app, &inst);
	/* What was written is not echoed: a control file's input stays out
	 * of the log (it might be a pasted token). */
	if (rc == -ENOENT)
		log_warn("scans/new: no application by that name or id");
	if (!rc)
		rc = appref_start_scan(app, inst, body,
				       body ? strlen(body) : 0, idem, reply);
	free(word);
	free(app);
	free(inst);
	free(body);
	return rc;
}

static const struct kind scan_new_kind = KIND_CTL_ACT(
	"scans/new", "scans:write", ctlinput_line_or_json, scan_new_act);

/* ---- scans/ID/ ---------------------------------------------------- */

static const struct res_row scan_vulns_row = {
	RES_VULN_LINKS("scanId"),
	/* diff/ compares scans by fingerprint from the same index. */
	.index_extra = "fingerprint",
};

static const struct kind scan_vulns_kind = {
	.name = "scan vulns",
	.type = KIND_DIR,
	.scope = "vulns:read",
	.row = &scan_vulns_row,
};

static int scan_list(const struct kind_ctx *c, struct listing *out)
{
	cJSON *scan = restab_obj(c);
	if (!scan)
		return -EIO;
	const char *status = json_str(scan, "status");
	time_t mt = restab_mtime(scan);
	struct buf sb;
	buf_init(&sb, 64);
	int rc = buf_printf(&sb, "%s\n", status ? status : "Unknown") ? -ENOMEM
								      : 0;
	if (!rc)
		rc = listing_add(out, "scan.json", &scan_file_kind, NULL, NULL,
				 restab_pretty(scan), NULL, mt);
	if (!rc)
		rc = listing_add(out, "status", &scan_file_kind, NULL, NULL,
				 blob_from_buf(&sb), NULL, mt);
	if (!rc && status && strcmp(status, "Completed") == 0) {
		rc = restab_add(out, "report.json", &report_kind, c->id,
				"json");
		if (!rc)
			rc = restab_add(out, "report.sarif", &report_kind,
					c->id, "sarif");
		if (!rc)
			rc = restab_add(out, "report.junit.xml", &junit_kind,
					c->id, NULL);
		if (!rc)
			rc = scanhist_add_previous(out, scan);
	}
	if (!rc && !finished(status))
		rc = restab_add(out, "cancel", &cancel_kind, c->id, NULL);
	if (!rc)
		rc = restab_add(out, "wait", &wait_kind, c->id, NULL);
	if (!rc)
		rc = restab_add(out, "vulns", &scan_vulns_kind, c->id, NULL);
	/* Entries come and go with the status (reports, cancel, previous,
	 * diff/): no listing of the kernel's may outlive that. */
	out->sig = restab_entries_sig(out);
	buf_free(&sb, false);
	cJSON_Delete(scan);
	return rc;
}

static const struct kind scan_kind = {
	.name = "scan",
	.type = KIND_DIR,
	.scope = "scans:read",
	.list = scan_list,
};

/* ---- scans/ ------------------------------------------------------- */

const char *const res_scans_reserved[] = { "new", NULL };
static const struct res_row scans_row = {
	.path = "/v1/scans",
	.id_field = "scanId",
	.ext = "",
	.shape = RES_DIR,
	.child = &scan_kind,
	.reserved = res_scans_reserved,
	.new_ctl = &scan_new_kind,
};

const struct kind res_scans_kind = {
	.name = "scans",
	.type = KIND_DIR,
	.scope = "scans:read",
	.row = &scans_row,
};
