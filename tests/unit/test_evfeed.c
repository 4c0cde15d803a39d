/* test_evfeed.c - the change detector behind `events`: each change one
 * line, the overlap shows nothing twice, new findings told from status
 * changes, the window forgets what cannot come back, and the query. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/evfeed.h"
#include "apisecfs/json.h"
#include "check.h"

/* The lines emitted since the last take, one after another. */
static char got[8192];
static size_t ngot;
static time_t last_t;

static int collect(struct blob *line, time_t t, void *ud)
{
	(void)ud;
	size_t n = strlen(got);
	if (n + line->len < sizeof(got))
		memcpy(got + n, line->data, line->len + 1);
	ngot++;
	last_t = t;
	blob_unref(line);
	return 0;
}

static size_t feed(struct evfeed *f, enum evfeed_list l, const char *json)
{
	cJSON *it = cJSON_Parse(json);
	got[0] = '\0';
	ngot = 0;
	CHECK(it != NULL);
	CHECK(evfeed_item(f, l, it, collect, NULL) == 0);
	cJSON_Delete(it);
	return ngot;
}

/* 2026-11-22T10:00:00Z and seconds after it. */
#define T0 "2026-11-22T10:00:"
static time_t t0;

static void test_scans(struct evfeed *f)
{
	CHECK(feed(f, EVFEED_SCANS,
		   "{\"scanId\":\"s1\",\"applicationId\":\"a1\",\"status\":"
		   "\"Queued\",\"updatedAt\":\"" T0
		   "10Z\",\"progress\":0}") == 1);
	CHECK(strcmp(got, "{\"time\":\"" T0 "10Z\",\"type\":\"scan.status\","
			  "\"scanId\":\"s1\",\"applicationId\":\"a1\","
			  "\"status\":\"Queued\"}\n") == 0);
	CHECK(last_t == t0 + 10);
	/* The overlap shows it again: nothing. */
	CHECK(feed(f, EVFEED_SCANS,
		   "{\"scanId\":\"s1\",\"applicationId\":\"a1\",\"status\":"
		   "\"Queued\",\"updatedAt\":\"" T0 "10Z\"}") == 0);
	/* Running in the same second: still a change. */
	CHECK(feed(f, EVFEED_SCANS,
		   "{\"scanId\":\"s1\",\"applicationId\":\"a1\",\"status\":"
		   "\"Running\",\"updatedAt\":\"" T0 "10Z\"}") == 1);
	CHECK(strstr(got, "\"status\":\"Running\"") != NULL);
	/* No id: nothing to name it by. */
	CHECK(feed(f, EVFEED_SCANS, "{\"status\":\"Running\"}") == 0);
	/* A missing field shows as null, the line stays whole. */
	CHECK(feed(f, EVFEED_SCANS,
		   "{\"scanId\":\"s2\",\"status\":\"Queued\",\"updatedAt\":"
		   "\"" T0 "11Z\"}") == 1);
	CHECK(strstr(got, "\"applicationId\":null") != NULL);
}

static void test_vulns(struct evfeed *f)
{
	/* Detected inside the window, ACTIVE, untouched: new only. */
	CHECK(feed(f, EVFEED_VULNS,
		   "{\"vulnerabilityId\":\"v1\",\"scanId\":\"s1\","
		   "\"applicationId\":\"a1\",\"severity\":\"high\","
		   "\"category\":\"API1:2023 BOLA\",\"fingerprint\":\"fp_1\","
		   "\"status\":\"ACTIVE\",\"detectedAt\":\"" T0 "12Z\","
		   "\"updatedAt\":\"" T0 "12Z\",\"title\":\"t\"}") == 1);
	CHECK(strcmp(got, "{\"time\":\"" T0 "12Z\",\"type\":\"vuln.new\","
			  "\"vulnerabilityId\":\"v1\",\"scanId\":\"s1\","
			  "\"applicationId\":\"a1\",\"severity\":\"high\","
			  "\"category\":\"API1:2023 BOLA\","
			  "\"fingerprint\":\"fp_1\"}\n") == 0);
	CHECK(feed(f, EVFEED_VULNS,
		   "{\"vulnerabilityId\":\"v1\",\"status\":\"ACTIVE\","
		   "\"detectedAt\":\"" T0 "12Z\",\"updatedAt\":\"" T0
		   "12Z\"}") == 0);
	/* Triaged: a status line with the change's time. */
	CHECK(feed(f, EVFEED_VULNS,
		   "{\"vulnerabilityId\":\"v1\",\"status\":\"DISMISSED\","
		   "\"detectedAt\":\"" T0 "12Z\",\"updatedAt\":\"" T0
		   "14Z\"}") == 1);
	CHECK(strcmp(got, "{\"time\":\"" T0 "14Z\",\"type\":\"vuln.status\","
			  "\"vulnerabilityId\":\"v1\","
			  "\"status\":\"DISMISSED\"}\n") == 0);
	/* Back and forth between two polls: the same status, a later
	 * updatedAt. */
	CHECK(feed(f, EVFEED_VULNS,
		   "{\"vulnerabilityId\":\"v1\",\"status\":\"DISMISSED\","
		   "\"detectedAt\":\"" T0 "12Z\",\"updatedAt\":\"" T0
		   "15Z\"}") == 1);
	/* An old finding changed now: status only. */
	CHECK(feed(f, EVFEED_VULNS,
		   "{\"vulnerabilityId\":\"v0\",\"status\":\"RESOLVED\","
		   "\"detectedAt\":\"2025-01-01T00:00:00Z\",\"updatedAt\":"
		   "\"" T0 "13Z\"}") == 1);
	CHECK(strstr(got, "\"type\":\"vuln.status\"") != NULL);
	/* New and already triaged: both. */
	CHECK(feed(f, EVFEED_VULNS,
		   "{\"vulnerabilityId\":\"v2\",\"status\":\"RISK_ACCEPTED\","
		   "\"detectedAt\":\"" T0 "12Z\",\"updatedAt\":\"" T0
		   "13Z\"}") == 2);
	CHECK(strstr(got, "vuln.new") < strstr(got, "vuln.status"));
}

int main(void)
{
	t0 = json_parse_time("2026-11-22T10:00:00Z");
	struct evfeed *f = evfeed_new();
	char q[512];
	CHECK(f != NULL);
	evfeed_begin(f, t0 + 10);

	/* The window reaches back by the overlap; ':' is escaped. */
	CHECK(evfeed_query(f, EVFEED_SCANS, "/v1/scans", NULL, q, sizeof(q)) ==
	      0);
	CHECK(strcmp(q, "/v1/scans?updatedSince=2026-11-22T10%3A00%3A05Z"
			"&limit=500") == 0);
	CHECK(evfeed_query(f, EVFEED_VULNS, "/v1/vulnerabilities", "a b", q,
			   sizeof(q)) == 0);
	CHECK(strstr(q, "&nextToken=a%20b") != NULL);
	CHECK(evfeed_query(f, EVFEED_SCANS, "/v1/scans", NULL, q, 20) == -1);

	test_scans(f);
	test_vulns(f);
	CHECK(evfeed_known(f, EVFEED_SCANS) == 2);
	CHECK(evfeed_known(f, EVFEED_VULNS) == 3);

	/* The next window starts at 10:00:13 - 5 s: nothing forgotten
	 * that it can still show (all updated at 10..15 s). */
	evfeed_done(f, EVFEED_SCANS, t0 + 13);
	CHECK(evfeed_known(f, EVFEED_SCANS) == 2);
	/* At 10:00:16 - 5 s = 11 s: s1 (10 s) cannot come back unchanged. */
	evfeed_done(f, EVFEED_SCANS, t0 + 16);
	CHECK(evfeed_known(f, EVFEED_SCANS) == 1);
	CHECK(evfeed_query(f, EVFEED_SCANS, "/v1/scans", NULL, q, sizeof(q)) ==
	      0);
	CHECK(strstr(q, "updatedSince=2026-11-22T10%3A00%3A11Z") != NULL);
	/* A mark never moves back (a late answer from a lagging replica). */
	evfeed_done(f, EVFEED_SCANS, t0);
	CHECK(evfeed_query(f, EVFEED_SCANS, "/v1/scans", NULL, q, sizeof(q)) ==
	      0);
	CHECK(strstr(q, "updatedSince=2026-11-22T10%3A00%3A11Z") != NULL);
	/* The lists keep windows of their own. */
	evfeed_done(f, EVFEED_VULNS, t0 + 100);
	CHECK(evfeed_known(f, EVFEED_VULNS) == 0);
	CHECK(evfeed_known(f, EVFEED_SCANS) == 1);

	evfeed_free(f);
	evfeed_free(NULL);
	return check_report("test_evfeed");
}
