/* res_root.c - the mount's top level: README, whoami.json, .stats, teams/,
 * tokens/.
 *
 * Kinds for the root directory and the two small resources that have no
 * children of their own worth a module (teams, tokens). Calls api, auth,
 * restab and ctlinput helpers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/auth.h"
#include "apisecfs/ctlinput.h"
#include "apisecfs/events.h"
#include "apisecfs/json.h"
#include "apisecfs/log.h"
#include "apisecfs/metrics.h"
#include "apisecfs/restab.h"
#include "apisecfs/rowwalk.h"

/* ---- README ------------------------------------------------------- */

static const char readme_text[] =
	"apisecfs - the API-security platform as files\n"
	"\n"
	"whoami.json           who this mount is: identity, auth way, scopes\n"
	"apps/NAME/            app.json (rm deletes the app), endpoints,\n"
	"                      spec.json|spec.yaml (write to upload), scan\n"
	"                      (write to start a scan), scans/ and vulns/ "
	"(links),\n"
	"                      latest (link to the newest Completed scan)\n"
	"apps/new              write JSON {applicationName, hostUrl, ...}\n"
	"scans/new             write an app's file name or JSON to scan it\n"
	"scans/ID/             scan.json, status, report.json, report.sarif,\n"
	"                      report.junit.xml, cancel (write to cancel), "
	"wait\n"
	"                      (read blocks until the scan ends), vulns/ "
	"(links),\n"
	"                      previous (link to the scan before), "
	"diff/new/,\n"
	"                      diff/persisting/, diff/fixed/ (links, by\n"
	"                      fingerprint against previous)\n"
	"vulns/ID.json         one finding; vulns/all.jsonl: all, a line "
	"each\n"
	"vulns/by-severity/S/  links, S = critical high medium low info\n"
	"vulns/by-status/S/    links, S = ACTIVE DISMISSED RISK_ACCEPTED "
	"RESOLVED\n"
	"vulns/triage          write \"ID STATUS[: comment]\" to triage\n"
	"teams/NAME/           team.json, members\n"
	"tokens/NAME.json      token metadata; rm revokes the token\n"
	"tokens/new            open read-write, write JSON {name, scopes},\n"
	"                      read the new secret back from the same fd\n"
	".refresh              write anything to drop every cache now\n"
	".stats                metrics, Prometheus text format (no request)\n"
	"events                not listed: each open streams the changes of\n"
	"                      scans and findings as JSON lines (cat events)\n"
	"\n"
	"Names: '/', control characters and invalid UTF-8 become '_';\n"
	"clashes get \"~ID\" before the extension. See apisecfs(1).\n";

static int readme_render(const struct kind_ctx *c, struct buf *out,
			 time_t *mtime)
{
	(void)c;
	(void)mtime;
	return buf_append(out, readme_text, sizeof(readme_text) - 1) ? -ENOMEM
								     : 0;
}

static const struct kind readme_kind = {
	.name = "README",
	.type = KIND_FILE,
	.render = readme_render,
};

/* ---- whoami.json -------------------------------------------------- */

static int whoami_render(const struct kind_ctx *c, struct buf *out,
			 time_t *mtime)
{
	cJSON *me;
	struct api_status st;
	(void)c;
	enum api_err result = api_get_json("/v1/me", &me, &st);
	if (result)
		return restab_errno(result, &st);
	auth_set_identity(me); /* scopes may have changed */
	cJSON_Delete(me);
	cJSON *w = auth_whoami_new();
	if (!w)
		return -ENOMEM;
	*mtime = 0;
	int rc = json_render_pretty(w, out) ? -ENOMEM : 0;
	cJSON_Delete(w);
	return rc;
}

static const struct kind whoami_kind = {
	.name = "whoami",
	.type = KIND_FILE,
	.render = whoami_render,
};

/* ---- .stats ------------------------------------------------------- */

/* Counters read now from their owners: no request, so a scraper reading
 * it every few seconds costs the platform nothing. */
static int stats_render(const struct kind_ctx *c, struct buf *out,
			time_t *mtime)
{
	struct cache_stats cs;
	(void)c;
	api_cache_stats(&cs);
	unsigned long parses, shared;
	size_t parsed_bytes;
	api_parse_stats(&parses, &shared, &parsed_bytes);
	struct metrics_gauges g = {
		.pages_parsed = parses,
		.pages_parse_shared = shared,
		.parsed_bytes = parsed_bytes,
		.cache_hits = cs.hits,
		.cache_misses = cs.misses,
		.cache_revalidated = cs.revalidated,
		.cache_stale_served = cs.stale_served,
		.cache_evictions = cs.evictions,
		.cache_disk_reads = cs.spill_reads,
		.cache_entries = cs.entries,
		.cache_bytes = cs.bytes,
		.cache_max_bytes = cs.max_bytes,
		.credential_expires = auth_expires_at(),
	};
	*mtime = time(NULL);
	return metrics_render(&g, out) ? -ENOMEM : 0;
}

static const struct kind stats_kind = {
	.name = ".stats",
	.type = KIND_FILE,
	.render = stats_render,
	.live = true,
};

/* ---- .refresh ----------------------------------------------------- */

static int refresh_act(const struct kind_ctx *c, const char *data, size_t len,
		       const char *idem, struct buf *reply)
{
	(void)c, (void)data, (void)len, (void)idem, (void)reply;
	log_info("refresh requested: dropping cached data");
	/* The scopes too may have changed at the platform: learn them again
	 * (the mode bits follow through auth's hook). Failing that, the old
	 * set stands; the refresh itself still happens. */
	cJSON *me = NULL;
	if (api_me(&me, NULL) == API_OK)
		auth_set_identity(me);
	cJSON_Delete(me);
	return 0; /* tree.c drops the caches (refresh_all) */
}

static const struct ctl_ops refresh_ops = {
	.complete = ctlinput_any,
	.act = refresh_act,
	.refresh_all = true,
};
static const struct kind refresh_kind = {
	.name = ".refresh",
	.type = KIND_CTL,
	.ctl = &refresh_ops,
};

/* ---- events ------------------------------------------------------- */

/* Hidden: a read blocks until something changes, so grep -r, find and tar
 * must never open it. The feed itself is events.c's. */
static const struct ctl_ops events_ops = {
	.blocking_read = true,
	.stream_open = events_open,
	.stream_close = events_close,
	.stream_read = events_read,
	.stream_poll = events_poll,
};
static const struct kind events_kind = {
	.name = "events",
	.type = KIND_CTL,
	.ctl = &events_ops,
	.hidden = true,
};

/* ---- teams -------------------------------------------------------- */

static const struct kind team_file_kind = {
	.name = "team file",
	.type = KIND_FILE,
	.scope = "teams:read",
};

/* members: one "email<TAB>role<TAB>userId" line per member. */
static struct blob *members_blob(const cJSON *team)
{
	struct buf m;
	const cJSON *mem;
	buf_init(&m, HTTP_MAX_BODY);
	cJSON_ArrayForEach (
		mem, cJSON_GetObjectItemCaseSensitive(team, "members")) {
		const char *email = json_str(mem, "email");
		const char *role = json_str(mem, "role");
		const char *uid = json_str(mem, "userId");
		if (buf_printf(&m, "%s\t%s\t%s\n", email ? email : "-",
			       role ? role : "-", uid ? uid : "-")) {
			buf_free(&m, false);
			return NULL;
		}
	}
	struct blob *bl = blob_from_buf(&m);
	buf_free(&m, false);
	return bl;
}

static int team_list(const struct kind_ctx *c, struct listing *out)
{
	cJSON *t = restab_obj(c);
	if (!t)
		return -EIO;
	time_t mt = restab_mtime(t);
	struct blob *members = members_blob(t);
	int rc = members ? 0 : -ENOMEM;
	if (!rc)
		rc = listing_add(out, "team.json", &team_file_kind, NULL, NULL,
				 restab_pretty(t), NULL, mt);
	if (!rc)
		rc = listing_add(out, "members", &team_file_kind, NULL, NULL,
				 members, NULL, mt);
	else
		blob_unref(members);
	cJSON_Delete(t);
	return rc;
}

static const struct kind team_kind = {
	.name = "team",
	.type = KIND_DIR,
	.scope = "teams:read",
	.list = team_list,
};

static const struct res_row teams_row = {
	.path = "/v1/teams",
	.id_field = "teamId",
	.name_field = "name",
	.ext = "",
	.shape = RES_DIR,
	.child = &team_kind,
};

const struct kind res_teams_kind = {
	.name = "teams",
	.type = KIND_DIR,
	.scope = "teams:read",
	.row = &teams_row,
};

/* ---- tokens ------------------------------------------------------- */

static int token_remove(const struct kind_ctx *c)
{
	return restab_delete("/v1/tokens", c->id, "token", "revoked");
}

static const struct kind token_kind = {
	.name = "token",
	.type = KIND_FILE,
	.scope = "tokens:read",
	.remove = token_remove,
	.remove_scope = "tokens:delete",
};

/* tokens/new: {"name","scopes":[...],"expiresAt"?,"allowedAddresses"?}.
 * The reply, read back from the same descriptor, is the platform's answer
 * including the one-time "token" secret. */
static int token_new_act(const struct kind_ctx *c, const char *data,
			 size_t len, const char *idem, struct buf *reply)
{
	(void)c;
	cJSON *in = json_parse(data, len);
	const cJSON *scopes = cJSON_GetObjectItemCaseSensitive(in, "scopes");
	const cJSON *s;
	int rc = 0;
	if (!json_str(in, "name") || !cJSON_IsArray(scopes)) {
		log_warn("tokens/new: expected JSON {\"name\": ..., "
			 "\"scopes\": [...]}");
		rc = -EINVAL;
	}
	cJSON_ArrayForEach (s, scopes) {
		if (rc)
			break;
		if (!cJSON_IsString(s)) {
			rc = -EINVAL;
		} else if (!auth_has_scope(s->valuestring)) {
			/* The platform would refuse it: do not ask. */
			/* Not echoed: control-file input stays out of the
			 * log. */
			log_warn("tokens/new: a requested scope is not held "
				 "by this mount's credential");
			rc = -EACCES;
		}
	}
	cJSON *resp = NULL;
	struct api_status st;
	if (!rc) {
		enum api_err result =
			api_send("POST", "/v1/tokens", "application/json",
				 data, len, idem, &resp, &st);
		rc = restab_errno(result, &st);
	}
	if (!rc && json_render_pretty(resp, reply))
		rc = -ENOMEM;
	if (!rc)
		log_info("token %s created", json_str(resp, "tokenId"));
	if (resp) {
		/* The secret lives on only in the reply buffer. */
		cJSON *tok = cJSON_GetObjectItemCaseSensitive(resp, "token");
		if (cJSON_IsString(tok))
			explicit_bzero(tok->valuestring,
				       strlen(tok->valuestring));
	}
	cJSON_Delete(resp);
	cJSON_Delete(in);
	return rc;
}

static const struct kind token_new_kind = KIND_CTL_ACT(
	"tokens/new", "tokens:write", ctlinput_line_or_json, token_new_act);

static const char *const tokens_reserved[] = { "new", NULL };
static const struct res_row tokens_row = {
	.path = "/v1/tokens",
	.id_field = "tokenId",
	.name_field = "name",
	.ext = ".json",
	.shape = RES_FILE,
	.child = &token_kind,
	.reserved = tokens_reserved,
	.new_ctl = &token_new_kind,
};

const struct kind res_tokens_kind = {
	.name = "tokens",
	.type = KIND_DIR,
	.scope = "tokens:read",
	.row = &tokens_row,
	.entries_remove_scope = "tokens:delete",
};

/* ---- root --------------------------------------------------------- */

static int root_list(const struct kind_ctx *c, struct listing *out)
{
	(void)c;
	int rc = restab_add(out, "README", &readme_kind, NULL, NULL);
	if (!rc)
		rc = restab_add(out, "whoami.json", &whoami_kind, NULL, NULL);
	if (!rc)
		rc = restab_add(out, ".refresh", &refresh_kind, NULL, NULL);
	if (!rc && events_enabled())
		rc = restab_add(out, "events", &events_kind, NULL, NULL);
	if (!rc)
		rc = restab_add(out, ".stats", &stats_kind, NULL, NULL);
	if (!rc)
		rc = restab_add(out, "apps", &res_apps_kind, NULL, NULL);
	if (!rc)
		rc = restab_add(out, "scans", &res_scans_kind, NULL, NULL);
	if (!rc)
		rc = restab_add(out, "vulns", &res_vulns_kind, NULL, NULL);
	if (!rc)
		rc = restab_add(out, "teams", &res_teams_kind, NULL, NULL);
	if (!rc)
		rc = restab_add(out, "tokens", &res_tokens_kind, NULL, NULL);
	return rc;
}

const struct kind restab_root_kind = {
	.name = "root",
	.type = KIND_DIR,
	.list = root_list,
};
