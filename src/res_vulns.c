/* res_vulns.c - findings: vulns/ID.json, all.jsonl, by-severity/,
 * by-status/ and the triage control.
 *
 * Every finding is one pretty JSON file; all.jsonl has them all, one per
 * line, for grep and jq; the by-* directories hold symlinks from a filtered
 * list each (independent queries, so each stays ceil(N/500) requests).
 * Calls api, restab and ctlinput helpers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/ctlinput.h"
#include "apisecfs/json.h"
#include "apisecfs/log.h"
#include "apisecfs/restab.h"
#include "apisecfs/rowwalk.h"

static const char *const severities[] = { "critical", "high", "medium",
					  "low",      "info", NULL };
static const char *const statuses[] = { "ACTIVE", "DISMISSED", "RISK_ACCEPTED",
					"RESOLVED", NULL };

static bool one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

/* ---- files -------------------------------------------------------- */

static const struct kind vuln_kind = {
	.name = "vuln",
	.type = KIND_FILE,
	.scope = "vulns:read",
};

/* all.jsonl is as big as all findings together: made a page at a time
 * when read (stream.h), never held whole. It pages through the same
 * per-severity lists as vulns/ (most severe first), so it costs no
 * request of its own while they are cached. */
const char *const res_vulns_streams[] = {
	"/v1/vulnerabilities?severity=critical",
	"/v1/vulnerabilities?severity=high",
	"/v1/vulnerabilities?severity=medium",
	"/v1/vulnerabilities?severity=low",
	"/v1/vulnerabilities?severity=info",
	NULL
};
#define all_jsonl_paths res_vulns_streams
static const struct kind all_jsonl_kind = {
	.name = "all.jsonl",
	.type = KIND_FILE,
	.scope = "vulns:read",
	.stream_paths = all_jsonl_paths,
	.stream_item = json_render_line,
	.stream_item_len = json_line_len,
};

/* ---- triage ------------------------------------------------------- */

/* "ID STATUS[: comment]" or {"vulnerabilityId","status","comment"?}. */
static int parse_triage(const char *word, char **id, char **status,
			char **comment)
{
	if (word[0] == '{') {
		cJSON *in = json_parse(word, strlen(word));
		const char *v = json_str(in, "vulnerabilityId");
		const char *s = json_str(in, "status");
		const char *m = json_str(in, "comment");
		*id = v ? strdup(v) : NULL;
		*status = s ? strdup(s) : NULL;
		*comment = m ? strdup(m) : NULL;
		cJSON_Delete(in);
		return 0;
	}
	if (strchr(word, '\n'))
		return -EINVAL; /* one finding per open: all or nothing */
	const char *sp = strpbrk(word, " \t");
	if (!sp)
		return -EINVAL;
	*id = strndup(word, (size_t)(sp - word));
	while (*sp == ' ' || *sp == '\t')
		sp++;
	const char *colon = strchr(sp, ':');
	*status = colon ? strndup(sp, (size_t)(colon - sp)) : strdup(sp);
	if (colon) {
		colon++;
		while (*colon == ' ')
			colon++;
		*comment = strdup(colon);
	}
	return 0;
}

static int triage_act(const struct kind_ctx *c, const char *data, size_t len,
		      const char *idem, struct buf *reply)
{
	char *word = ctlinput_word(data, len);
	char *id = NULL, *status = NULL, *comment = NULL;
	int rc = word ? parse_triage(word, &id, &status, &comment) : -EINVAL;
	(void)c, (void)idem;
	if (!rc && id) {
		size_t n = strlen(id); /* the file name works too */
		if (n > 5 && strcmp(id + n - 5, ".json") == 0)
			id[n - 5] = '\0';
	}
	if (!rc && (!id || !*id || !status || !one_of(status, statuses)))
		rc = -EINVAL;
	if (rc) {
		log_warn("vulns/triage: expected \"ID STATUS[: comment]\" "
			 "with STATUS one of ACTIVE DISMISSED RISK_ACCEPTED "
			 "RESOLVED");
		goto out;
	}
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "status", status);
	if (comment)
		cJSON_AddStringToObject(body, "comment", comment);
	char *text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	char path[API_PATH_MAX];
	struct api_status st = { 0 };
	enum api_err result = API_E_NOMEM;
	if (restab_item_path(path, sizeof(path), "/v1/vulnerabilities", id,
			     NULL))
		result = API_E_BAD_REQUEST;
	else if (text)
		result = api_send("PATCH", path, "application/json", text,
				  strlen(text), NULL, NULL, &st);
	free(text);
	rc = restab_errno(result, &st);
	if (!rc) {
		log_info("finding %s set to %s", id, status);
		if (buf_printf(reply, "%s %s\n", id, status))
			rc = -ENOMEM;
	}
out:
	free(word);
	free(id);
	free(status);
	free(comment);
	return rc;
}

static const struct kind triage_kind = KIND_CTL_ACT(
	"vulns/triage", "vulns:write", ctlinput_line_or_json, triage_act);

/* ---- by-severity/, by-status/ ------------------------------------- */

const struct kind res_vuln_link_kind = {
	.name = "vuln link",
	.type = KIND_LINK,
};

static int filtered_list(const struct kind_ctx *c, struct listing *out,
			 const char *param)
{
	const struct res_row row = {
		.path = "/v1/vulnerabilities",
		.filter = param,
		.id_field = "vulnerabilityId",
		.ext = ".json",
		.shape = RES_LINK,
		.child = &res_vuln_link_kind,
		.link_to = "../../",
	};
	return rowwalk_list(c, &row, out);
}

static int sev_list(const struct kind_ctx *c, struct listing *out)
{
	return filtered_list(c, out, "severity");
}

/* by-status/S/ filters the per-severity pages vulns/ fetched (and the
 * cache holds) instead of asking the platform four more questions. */
static int status_list(const struct kind_ctx *c, struct listing *out)
{
	const struct res_row row = {
		.path = "/v1/vulnerabilities",
		.id_field = "vulnerabilityId",
		.ext = ".json",
		.shape = RES_LINK,
		.child = &res_vuln_link_kind,
		.link_to = "../../",
		.split_param = "severity",
		.split_values = severities,
		.match_field = "status",
	};
	return rowwalk_list(c, &row, out);
}

static const struct kind sev_kind = {
	.name = "severity",
	.type = KIND_DIR,
	.scope = "vulns:read",
	.list = sev_list,
};
static const struct kind status_kind = {
	.name = "status",
	.type = KIND_DIR,
	.scope = "vulns:read",
	.list = status_list,
};

static int add_each(struct listing *out, const char *const *values,
		    const struct kind *k)
{
	int rc = 0;
	for (; *values && !rc; values++)
		rc = restab_add(out, *values, k, NULL, *values);
	return rc;
}

static int by_sev_list(const struct kind_ctx *c, struct listing *out)
{
	(void)c;
	return add_each(out, severities, &sev_kind);
}

static int by_status_list(const struct kind_ctx *c, struct listing *out)
{
	(void)c;
	return add_each(out, statuses, &status_kind);
}

static const struct kind by_sev_kind = {
	.name = "by-severity",
	.type = KIND_DIR,
	.scope = "vulns:read",
	.list = by_sev_list,
};
static const struct kind by_status_kind = {
	.name = "by-status",
	.type = KIND_DIR,
	.scope = "vulns:read",
	.list = by_status_list,
};

/* ---- vulns/ ------------------------------------------------------- */

static const char *const vulns_reserved[] = { "all.jsonl", "by-severity",
					      "by-status", "triage", NULL };
static const struct res_row vulns_row = {
	.path = "/v1/vulnerabilities",
	.id_field = "vulnerabilityId",
	.ext = ".json",
	.shape = RES_FILE,
	.child = &vuln_kind,
	.reserved = vulns_reserved,
	/* Five streams at once, and by-severity/ then costs nothing. */
	.split_param = "severity",
	.split_values = severities,
};

static int vulns_list(const struct kind_ctx *c, struct listing *out)
{
	/* The walk below parses every page all.jsonl is made of: measure
	 * its lines on the way, so its size then costs no request. */
	for (const char *const *p = all_jsonl_paths; *p; p++)
		api_measure_pages(*p, json_line_len);
	int rc = restab_add(out, "all.jsonl", &all_jsonl_kind, NULL, NULL);
	if (!rc)
		rc = restab_add(out, "by-severity", &by_sev_kind, NULL, NULL);
	if (!rc)
		rc = restab_add(out, "by-status", &by_status_kind, NULL, NULL);
	if (!rc)
		rc = restab_add(out, "triage", &triage_kind, NULL, NULL);
	return rc ? rc : rowwalk_list(c, &vulns_row, out);
}

const struct kind res_vulns_kind = {
	.name = "vulns",
	.type = KIND_DIR,
	.scope = "vulns:read",
	.list = vulns_list,
	.row = &vulns_row,
};
