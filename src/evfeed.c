/* evfeed.c - the change detector behind `events`: updatedSince windows,
 * overlap and de-duplication, and the JSON line of each change.
 *
 * Owns, per list, the mark (platform Date) and a uthash of the items seen
 * in the current window. Calls json and buf only; the caller fetches the
 * pages (events.c) and serializes calls (one poller thread).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "apisecfs/api.h"
#include "apisecfs/evfeed.h"
#include "apisecfs/json.h"

/* A status longer than this is not one of the contract's words; it is
 * compared on this prefix (it still shows whole in the line). */
#define SEEN_STATUS_MAX 32

struct seen {
	UT_hash_handle hh;
	time_t updated;
	char status[SEEN_STATUS_MAX];
	char id[];
};

struct window {
	time_t mark; /* Date of the last complete answer */
	struct seen *items;
	size_t n;
};

struct evfeed {
	struct window w[EVFEED_NLISTS];
};

static const char *const id_field[EVFEED_NLISTS] = { "scanId",
						     "vulnerabilityId" };

struct evfeed *evfeed_new(void)
{
	return calloc(1, sizeof(struct evfeed));
}

static void forget(struct window *w, time_t before, bool all)
{
	struct seen *s, *tmp;
	HASH_ITER (hh, w->items, s, tmp) {
		/* No updatedAt: the next answer cannot be told apart from
		 * this one, so it is dropped with the window's start. */
		if (all || !s->updated || s->updated < before) {
			HASH_DEL(w->items, s);
			free(s);
			w->n--;
		}
	}
}

void evfeed_free(struct evfeed *f)
{
	if (!f)
		return;
	for (int l = 0; l < EVFEED_NLISTS; l++)
		forget(&f->w[l], 0, true);
	free(f);
}

void evfeed_begin(struct evfeed *f, time_t date)
{
	for (int l = 0; l < EVFEED_NLISTS; l++)
		f->w[l].mark = date;
}

void evfeed_time_str(time_t t, char *out, size_t outsz)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) ||
	    !strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, outsz, "1970-01-01T00:00:00Z");
}

static time_t since_of(const struct window *w)
{
	return w->mark > EVFEED_OVERLAP_S ? w->mark - EVFEED_OVERLAP_S : 0;
}

int evfeed_query(const struct evfeed *f, enum evfeed_list l, const char *base,
		 const char *next, char *out, size_t outsz)
{
	char ts[32], esc[API_PATH_MAX];
	evfeed_time_str(since_of(&f->w[l]), ts, sizeof(ts));
	int n = snprintf(out, outsz, "%s?updatedSince=%s&limit=%d", base,
			 api_escape(ts, esc, sizeof(esc)), API_PAGE_LIMIT);
	if (n >= 0 && (size_t)n < outsz && next)
		n += snprintf(out + n, outsz - (size_t)n, "&nextToken=%s",
			      api_escape(next, esc, sizeof(esc)));
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* ---- lines -------------------------------------------------------- */

static void copy_field(cJSON *line, const cJSON *item, const char *key)
{
	const char *v = json_str(item, key);
	if (v)
		cJSON_AddStringToObject(line, key, v);
	else
		cJSON_AddNullToObject(line, key);
}

/* {"time","type", then item's fields in this order}; emitted. */
static int emit_line(const char *type, const char *time_s, time_t t,
		     const cJSON *item, const char *const *fields,
		     evfeed_emit_fn emit, void *ud)
{
	cJSON *line = cJSON_CreateObject();
	struct buf b;
	int rc = -ENOMEM;
	buf_init(&b, HTTP_MAX_BODY);
	if (!line)
		return rc;
	cJSON_AddStringToObject(line, "time", time_s);
	cJSON_AddStringToObject(line, "type", type);
	for (size_t i = 0; fields[i]; i++)
		copy_field(line, item, fields[i]);
	struct blob *bl = NULL;
	if (json_render_line(line, &b) == 0)
		bl = blob_from_buf(&b);
	cJSON_Delete(line);
	buf_free(&b, false);
	if (bl)
		rc = emit(bl, t, ud);
	return rc;
}

static const char *const scan_fields[] = { "scanId", "applicationId", "status",
					   NULL };
static const char *const vuln_new_fields[] = {
	"vulnerabilityId", "scanId", "applicationId", "severity", "category",
	"fingerprint",	   NULL
};
static const char *const vuln_status_fields[] = { "vulnerabilityId", "status",
						  NULL };

/* The item's time as text and number: field, else the mark. */
static time_t item_time(const cJSON *item, const char *field,
			const struct window *w, char *out, size_t outsz)
{
	const char *s = json_str(item, field);
	time_t t = s ? json_parse_time(s) : 0;
	if (!t) {
		t = w->mark;
		evfeed_time_str(t, out, outsz);
	} else {
		snprintf(out, outsz, "%s", s);
	}
	return t;
}

/* ---- changes ------------------------------------------------------ */

int evfeed_item(struct evfeed *f, enum evfeed_list l, const cJSON *item,
		evfeed_emit_fn emit, void *ud)
{
	struct window *w = &f->w[l];
	const char *id = json_str(item, id_field[l]);
	const char *status = json_str(item, "status");
	char ut[64], dt[64];
	if (!id)
		return 0; /* nothing to name it by: not a change we can show */
	if (!status)
		status = "";
	time_t updated = item_time(item, "updatedAt", w, ut, sizeof(ut));
	struct seen *s;
	HASH_FIND_STR(w->items, id, s);
	bool changed = !s || strncmp(s->status, status, SEEN_STATUS_MAX - 1) ||
		       updated > s->updated;
	if (!changed)
		return 0; /* the overlap showed it again */
	int rc = 0;
	if (l == EVFEED_SCANS) {
		rc = emit_line("scan.status", ut, updated, item, scan_fields,
			       emit, ud);
	} else {
		time_t detected =
			item_time(item, "detectedAt", w, dt, sizeof(dt));
		/* Unknown and detected inside the window: new. Unknown and
		 * older: a finding whose status moved. */
		bool is_new = !s && detected >= since_of(w);
		if (is_new)
			rc = emit_line("vuln.new", dt, detected, item,
				       vuln_new_fields, emit, ud);
		/* A new finding is ACTIVE: any other status, or a later
		 * updatedAt, means it was triaged since. */
		if (!rc && (!is_new || strcmp(status, "ACTIVE") ||
			    updated > detected))
			rc = emit_line("vuln.status", ut, updated, item,
				       vuln_status_fields, emit, ud);
	}
	if (rc)
		return rc;
	if (!s) {
		size_t len = strlen(id);
		s = calloc(1, sizeof(*s) + len + 1);
		if (!s)
			return -ENOMEM;
		memcpy(s->id, id, len + 1);
		HASH_ADD_STR(w->items, id, s);
		w->n++;
	}
	snprintf(s->status, sizeof(s->status), "%s", status);
	s->updated = updated;
	return 0;
}

void evfeed_done(struct evfeed *f, enum evfeed_list l, time_t date)
{
	struct window *w = &f->w[l];
	if (date > w->mark)
		w->mark = date;
	forget(w, since_of(w), false);
}

size_t evfeed_known(const struct evfeed *f, enum evfeed_list l)
{
	return f->w[l].n;
}
