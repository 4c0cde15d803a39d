/* delta.c - Bloom filters of a page's item ids, and the verdict a set of
 * changes gives on one cached entry (delta.h).
 *
 * Pure functions: no state, no lock, no request. Calls buf and json.
 */
#include <stdlib.h>
#include <string.h>

#include "apisecfs/delta.h"
#include "apisecfs/json.h"

/* 8,192 bits and 4 probes: a page of 500 ids answers a wrong "maybe" about
 * once in 500, which costs one needless 304. */
#define DELTA_BITS 8192u
#define DELTA_PROBES 4

static const struct {
	const char *prefix, *id_field;
} resources[] = {
	{ "/v1/vulnerabilities", "vulnerabilityId" },
	{ "/v1/scans", "scanId" },
};

static int resource_of(const char *path)
{
	for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
		size_t n = strlen(resources[i].prefix);
		if (strncmp(path, resources[i].prefix, n) == 0 &&
		    (path[n] == '\0' || path[n] == '?' || path[n] == '/'))
			return (int)i;
	}
	return -1;
}

const char *delta_id_field(const char *path)
{
	int r = resource_of(path);
	return r < 0 ? NULL : resources[r].id_field;
}

const char *delta_resource(const char *path)
{
	int r = resource_of(path);
	return r < 0 ? NULL : resources[r].prefix;
}

static void probes(const char *id, uint32_t out[DELTA_PROBES])
{
	uint64_t h = buf_hash(id, strlen(id));
	uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1;
	for (int i = 0; i < DELTA_PROBES; i++)
		out[i] = (h1 + (uint32_t)i * h2) % DELTA_BITS;
}

struct blob *delta_ids_new(const cJSON *items, const char *id_field)
{
	static const char zeros[DELTA_BITS / 8];
	struct blob *b = blob_new(zeros, sizeof(zeros));
	const cJSON *it;
	if (!b)
		return NULL;
	cJSON_ArrayForEach (it, items) {
		const char *id = json_str(it, id_field);
		uint32_t p[DELTA_PROBES];
		if (!id)
			continue;
		probes(id, p);
		for (int i = 0; i < DELTA_PROBES; i++)
			b->data[p[i] / 8] |= (char)(1u << (p[i] % 8));
	}
	return b;
}

bool delta_ids_may_have(const struct blob *ids, const char *id)
{
	uint32_t p[DELTA_PROBES];
	if (!ids || ids->len * 8 < DELTA_BITS)
		return true;
	probes(id, p);
	for (int i = 0; i < DELTA_PROBES; i++)
		if (!(ids->data[p[i] / 8] & (1u << (p[i] % 8))))
			return false;
	return true;
}

/* Does item pass the filters of the list page key (its query, paging
 * parameters aside)? *mutable_filter: one of them is on status, which
 * items change. */
static bool passes(const char *key, const cJSON *item, bool *mutable_filter)
{
	const char *q = strchr(key, '?');
	bool ok = true;
	*mutable_filter = false;
	while (q && *q) {
		q++;
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);
		if (eq) {
			size_t nl = (size_t)(eq - q), vl = len - nl - 1;
			char name[48];
			if (nl < sizeof(name)) {
				memcpy(name, q, nl);
				name[nl] = '\0';
				if (strcmp(name, "limit") &&
				    strcmp(name, "nextToken") &&
				    strcmp(name, "updatedSince")) {
					const char *v = json_str(item, name);
					if (strcmp(name, "status") == 0)
						*mutable_filter = true;
					if (!v || strlen(v) != vl ||
					    memcmp(v, eq + 1, vl) != 0)
						ok = false;
				}
			}
		}
		q += len;
	}
	return ok;
}

/* The id an object key names: "/v1/scans/ID" or "/v1/scans/ID/report...". */
static bool object_id(const char *key, const char *prefix, char *out,
		      size_t outsz)
{
	size_t n = strlen(prefix);
	if (key[n] != '/')
		return false;
	const char *id = key + n + 1;
	size_t len = strcspn(id, "/?");
	if (!len || len >= outsz)
		return false;
	memcpy(out, id, len);
	out[len] = '\0';
	return true;
}

int delta_verdict(const char *key, const char *memo, const struct blob *ids,
		  const struct delta_changes *ch)
{
	const cJSON *c;
	char oid[256];
	if (object_id(key, ch->prefix, oid, sizeof(oid))) {
		cJSON_ArrayForEach (c, ch->items) {
			const char *id = json_str(c, ch->id_field);
			if (id && strcmp(id, oid) == 0)
				return -1;
		}
		return 1;
	}
	if (!memo || !ids)
		return 0; /* a page never walked whole: ask as usual */
	cJSON_ArrayForEach (c, ch->items) {
		const char *id = json_str(c, ch->id_field);
		bool mutable_filter;
		bool match = passes(key, c, &mutable_filter);
		if (!id)
			return -1;
		if (delta_ids_may_have(ids, id))
			return -1; /* it changed on this page */
		/* A status filter's list gains and loses items in its middle,
		 * which moves every page after: any change may touch it. */
		if (mutable_filter)
			return -1;
		/* New in this list: new items come last. */
		if (match && !*memo)
			return -1;
	}
	return 1;
}
