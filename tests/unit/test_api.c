/* test_api.c - api.c over the real cache and a canned platform
 * (fakeplat.h), on the fake clock: lists followed through nextToken, the
 * pages' signature (unchanged, changed), one page by its key, measured
 * pages, and the rounds of changes (updatedSince) that keep a quiet list
 * fresh with one request and send a change to the pages it touched only.
 * No network, no sleep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/auth.h"
#include "apisecfs/cache.h"
#include "apisecfs/json.h"
#include "apisecfs/prefetch.h"
#include "check.h"
#include "fakeplat.h"

#define TTL_MS 1000
/* Whole seconds past the TTL: the platform's Date has a resolution of a
 * second, so the marks computed below are exact. */
#define PAST_TTL (2 * TTL_MS)

/* ---- what a walk saw ---------------------------------------------- */

static struct {
	int n;
	char ids[32][16];
	char status[32][16];
	char keys[32][128];
} seen;

static int collect(const cJSON *item, const char *key, void *ud)
{
	const char *field = ud;
	if (seen.n < 32) {
		snprintf(seen.ids[seen.n], 16, "%s", json_str(item, field));
		snprintf(seen.status[seen.n], 16, "%s",
			 json_str(item, "status"));
		snprintf(seen.keys[seen.n], 128, "%s", key);
	}
	seen.n++;
	return 0;
}

static enum api_err list(const char *path, const char *field, uint64_t known,
			 uint64_t *sig, bool *unchanged)
{
	struct api_status st;
	seen.n = 0;
	return api_list(path, known, collect, (void *)field, sig, unchanged,
			&st);
}

static size_t measure(const cJSON *item)
{
	return strlen(json_str(item, "status")) + 1;
}

static struct {
	int n;
	uint64_t len[8];
	bool has_len[8];
} pages;

static int page_info(const struct api_page_info *pi, void *ud)
{
	(void)ud;
	if (pages.n < 8) {
		pages.len[pages.n] = pi->len;
		pages.has_len[pages.n] = pi->has_len;
	}
	pages.n++;
	return 0;
}

/* The updatedSince value a round asks with: the platform's Date less the
 * 2 s margin, at fake time ms. */
static void since_path(char *out, size_t outsz, const char *prefix,
		       long long ms)
{
	char stamp[32], esc[64];
	time_t t = (time_t)(ms / 1000) - 2;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(out, outsz, "%s?updatedSince=%s&limit=%d", prefix,
		 api_escape(stamp, esc, sizeof(esc)), API_PAGE_LIMIT);
}

#define CHANGES "/v1/vulnerabilities?updatedSince=*"

static void changes(const char *ids_json, const char *next)
{
	char b[512];
	snprintf(b, sizeof(b), "{\"items\":[%s],\"nextToken\":%s}", ids_json,
		 next ? next : "null");
	fake_set(CHANGES, b);
}

int main(void)
{
	char err[256], key[256], key2[256], want[256];
	uint64_t sig, sig2;
	bool unchanged;
	struct api_status st;

	CHECK(fake_start() == 0);
	setenv("APISECFS_TOKEN", "tok", 1);
	struct auth_opts ao = { .base_url = FAKE_BASE };
	CHECK(auth_init(&ao, err, sizeof(err)) == 0);
	fake.bearer = "Bearer tok";
	struct cache_opts co = { .ttl_ms = TTL_MS,
				 .max_bytes = 1 << 20,
				 .fetch = api_fetch };
	struct api_opts po = { .base_url = FAKE_BASE "/", .ttl_ms = TTL_MS };
	CHECK(cache_init(&co) == 0 && api_init(&po) == 0);
	/* A prefetch worker could ask for a page after the walk, at a later
	 * fake time, and spoil the counts: no prefetching here. */
	prefetch_stop();

	/* ---- paging and signatures (a list without updatedSince) ---- */
	struct fake_list teams = { "/v1/teams", "teamId", "t", 7, { 0 } };
	fake_publish(&teams);
	CHECK(list("/v1/teams", "teamId", 0, &sig, &unchanged) == API_OK);
	CHECK(seen.n == 7 && !unchanged && sig);
	CHECK(strcmp(seen.ids[0], "t1") == 0 &&
	      strcmp(seen.ids[6], "t7") == 0);
	CHECK(fake.asked == 3 && fake.bodies == 3);
	fake_page_key(key, sizeof(key), "/v1/teams", 1);
	CHECK(strcmp(seen.keys[3], key) == 0 &&
	      strcmp(seen.ids[3], "t4") == 0);
	/* The credential went with every request (the fake answers 401
	 * otherwise). */
	CHECK(fake_asked_for("/v1/teams?limit=500&nextToken=p3") == 1);

	/* Same signature within the TTL: nothing asked, nothing called. */
	fake_zero();
	CHECK(list("/v1/teams", "teamId", sig, &sig2, &unchanged) == API_OK);
	CHECK(unchanged && sig2 == sig && seen.n == 0 && fake.asked == 0);
	/* Past the TTL: each page revalidated (304), still unchanged. */
	fake_advance(PAST_TTL);
	fake_zero();
	CHECK(list("/v1/teams", "teamId", sig, &sig2, &unchanged) == API_OK);
	CHECK(unchanged && sig2 == sig && seen.n == 0);
	CHECK(fake.asked == 3 && fake.not_modified == 3 && fake.bodies == 0);

	/* One page changed: a new signature and every item again, from one
	 * new body (the second pass is local). */
	teams.status[4] = "Gone";
	fake_publish(&teams);
	fake_advance(PAST_TTL);
	fake_zero();
	CHECK(list("/v1/teams", "teamId", sig, &sig2, &unchanged) == API_OK);
	CHECK(!unchanged && sig2 != sig && seen.n == 7);
	CHECK(strcmp(seen.status[4], "Gone") == 0);
	CHECK(fake.asked == 3 && fake.bodies == 1 && fake.not_modified == 2);
	sig = sig2;

	/* One page by its key, as a reload does. */
	seen.n = 0;
	CHECK(api_page(key, collect, "teamId", &st) == API_OK);
	CHECK(seen.n == 3 && strcmp(seen.ids[0], "t4") == 0 &&
	      strcmp(seen.ids[2], "t6") == 0);

	/* Measured pages: parsed before the list was measured, so parsed
	 * again, from the cache (fresh: nothing asked). */
	CHECK(api_measure_pages("/v1/teams", measure) == 0);
	pages.n = 0;
	fake_zero();
	CHECK(api_list_pages("/v1/teams", page_info, NULL, &sig2, &st) ==
	      API_OK);
	CHECK(pages.n == 3 && sig2 == sig && fake.asked == 0);
	CHECK(pages.has_len[0] && pages.len[0] == 3 * 5); /* "Open" + 1 */
	CHECK(pages.has_len[1] && pages.len[1] == 5 + 5 + 5 &&
	      pages.len[2] == 5);
	/* Past the TTL the measures ride with the memos: 304s, no body. */
	fake_advance(PAST_TTL);
	pages.n = 0;
	fake_zero();
	CHECK(api_list_pages("/v1/teams", page_info, NULL, &sig2, &st) ==
	      API_OK);
	CHECK(pages.n == 3 && sig2 == sig && fake.asked == 3 &&
	      fake.bodies == 0 && pages.has_len[2] && pages.len[2] == 5);

	/* A page that went missing fails the walk with its error. */
	fake_advance(PAST_TTL);
	fake_page_key(key2, sizeof(key2), "/v1/teams", 2);
	fake_set(key2, NULL);
	CHECK(list("/v1/teams", "teamId", 0, &sig2, &unchanged) ==
	      API_E_NOT_FOUND);
	fake_set(key2, "{\"items\":7}");
	fake_advance(PAST_TTL);
	CHECK(list("/v1/teams", "teamId", 0, &sig2, &unchanged) ==
	      API_E_BAD_RESPONSE);

	/* A refused bearer: API_E_UNAUTH after one request (an API token
	 * cannot be renewed, so no retry). */
	fake.bearer = "Bearer other";
	fake_zero();
	cJSON *doc = NULL;
	CHECK(api_get_json("/v1/me", &doc, &st) == API_E_UNAUTH && !doc);
	CHECK(fake.asked == 1);
	fake.bearer = "Bearer tok";

	/* ---- rounds of changes ---------------------------------------- */
	/* Three pages: v1-v3, v4-v6, v7-v8. */
	struct fake_list apps = {
		"/v1/applications", "applicationId", "a", 2, { 0 }
	};
	struct fake_list vulns = {
		"/v1/vulnerabilities", "vulnerabilityId", "v", 8, { 0 }
	};
	fake_publish(&apps);
	fake_publish(&vulns);
	changes("", NULL);
	char p1[256], p2[256], p3[256];
	fake_page_key(p1, sizeof(p1), vulns.path, 0);
	fake_page_key(p2, sizeof(p2), vulns.path, 1);
	fake_page_key(p3, sizeof(p3), vulns.path, 2);

	/* The first walk starts the chain of marks: the application ids and
	 * the pages, no updatedSince yet. */
	fake_zero();
	long long first_ms = fake_clock();
	CHECK(list(vulns.path, "vulnerabilityId", 0, &sig, &unchanged) ==
	      API_OK);
	CHECK(seen.n == 8 && fake_asked_for(CHANGES) == 0 &&
	      fake_asked_for("/v1/applications?*") == 1 &&
	      fake_asked_for(p1) == 1 && fake_asked_for(p2) == 1 &&
	      fake_asked_for(p3) == 1);
	/* Within the TTL nothing at all. */
	fake_zero();
	CHECK(list(vulns.path, "vulnerabilityId", sig, &sig2, &unchanged) ==
	      API_OK);
	CHECK(unchanged && fake.asked == 0);

	/* Past it, a quiet platform costs the round (applications: 304;
	 * what changed: nothing) and no page at all: all renewed. The round
	 * asks since the first mark: the platform's Date less 2 s. */
	fake_advance(PAST_TTL);
	long long second_ms = fake_clock();
	fake_zero();
	CHECK(list(vulns.path, "vulnerabilityId", sig, &sig2, &unchanged) ==
	      API_OK);
	CHECK(unchanged && sig2 == sig && fake.asked == 2);
	since_path(want, sizeof(want), vulns.path, first_ms);
	CHECK(fake_asked_for(want) == 1 && fake_asked_for(CHANGES) == 1);

	/* A change to v2: its page is asked again, and the last page (a
	 * change may be a new item, and new items come last); the middle
	 * page still stands. The signature moves and the walk sees the new
	 * status. The mark moved to the second round's. */
	vulns.status[1] = "Fixed";
	fake_publish(&vulns);
	changes("{\"vulnerabilityId\":\"v2\",\"status\":\"Fixed\"}", NULL);
	fake_advance(PAST_TTL);
	long long third_ms = fake_clock();
	fake_zero();
	CHECK(list(vulns.path, "vulnerabilityId", sig, &sig2, &unchanged) ==
	      API_OK);
	CHECK(!unchanged && sig2 != sig && seen.n == 8 &&
	      strcmp(seen.status[1], "Fixed") == 0);
	since_path(want, sizeof(want), vulns.path, second_ms);
	CHECK(fake_asked_for(want) == 1);
	CHECK(fake_asked_for(p1) == 1 && fake_asked_for(p2) == 0 &&
	      fake_asked_for(p3) == 1);
	CHECK(fake.bodies == 2); /* the changes and page 1; page 3: 304 */
	sig = sig2;

	/* A new item: only the last page is asked again. */
	vulns.n = 9;
	fake_publish(&vulns);
	changes("{\"vulnerabilityId\":\"v9\",\"status\":\"Open\"}", NULL);
	fake_advance(PAST_TTL);
	long long fourth_ms = fake_clock();
	fake_zero();
	CHECK(list(vulns.path, "vulnerabilityId", sig, &sig2, &unchanged) ==
	      API_OK);
	CHECK(!unchanged && seen.n == 9 && strcmp(seen.ids[8], "v9") == 0);
	since_path(want, sizeof(want), vulns.path, third_ms);
	CHECK(fake_asked_for(want) == 1);
	CHECK(fake_asked_for(p1) == 0 && fake_asked_for(p2) == 0 &&
	      fake_asked_for(p3) == 1);
	sig = sig2;

	/* The set of applications changed (items may have gone with one):
	 * the round renews nothing, every page is revalidated, and the mark
	 * stays for the next round. */
	apps.n = 3;
	fake_publish(&apps);
	changes("", NULL);
	fake_advance(PAST_TTL);
	fake_zero();
	CHECK(list(vulns.path, "vulnerabilityId", sig, &sig2, &unchanged) ==
	      API_OK);
	CHECK(unchanged && fake_asked_for(p1) == 1 &&
	      fake_asked_for(p2) == 1 && fake_asked_for(p3) == 1 &&
	      fake.not_modified == 3);
	since_path(want, sizeof(want), vulns.path, fourth_ms);
	CHECK(fake_asked_for(want) == 1);
	/* So the next round asks from the same mark again, and renews. */
	fake_advance(PAST_TTL);
	fake_zero();
	CHECK(list(vulns.path, "vulnerabilityId", sig, &sig2, &unchanged) ==
	      API_OK);
	CHECK(unchanged && fake_asked_for(want) == 1 &&
	      fake_asked_for(p1) == 0 && fake_asked_for(p2) == 0 &&
	      fake_asked_for(p3) == 0);

	/* A long answer (more than a page of changes) cannot be trusted
	 * to name every change: nothing renewed. */
	changes("{\"vulnerabilityId\":\"v1\"}", "\"more\"");
	fake_advance(PAST_TTL);
	fake_zero();
	CHECK(list(vulns.path, "vulnerabilityId", sig, &sig2, &unchanged) ==
	      API_OK);
	CHECK(unchanged && fake_asked_for(CHANGES) == 1 &&
	      fake_asked_for(p1) == 1 && fake_asked_for(p2) == 1 &&
	      fake_asked_for(p3) == 1);

	/* After the user's own action (v5 fixed) the round runs at once,
	 * within the TTL, and sends the walk to the pages it touched. */
	vulns.status[4] = "Fixed";
	fake_publish(&vulns);
	changes("{\"vulnerabilityId\":\"v5\"}", NULL);
	api_expire_cached();
	fake_zero();
	CHECK(list(vulns.path, "vulnerabilityId", sig, &sig2, &unchanged) ==
	      API_OK);
	CHECK(!unchanged && strcmp(seen.status[4], "Fixed") == 0 &&
	      fake_asked_for(CHANGES) == 1 && fake_asked_for(p1) == 0 &&
	      fake_asked_for(p2) == 1 && fake_asked_for(p3) == 1);
	sig = sig2;
	changes("", NULL);

	/* A refresh forgets the marks: the next round starts the chain
	 * again (no updatedSince) and the pages are revalidated. */
	api_forget_changes();
	fake_advance(PAST_TTL);
	fake_zero();
	CHECK(list(vulns.path, "vulnerabilityId", sig, &sig2, &unchanged) ==
	      API_OK);
	CHECK(unchanged && fake_asked_for(CHANGES) == 0 &&
	      fake_asked_for(p1) == 1 && fake_asked_for(p2) == 1 &&
	      fake_asked_for(p3) == 1);

	api_cleanup();
	cache_cleanup();
	auth_cleanup();
	fake_stop();
	return check_report("test_api");
}
