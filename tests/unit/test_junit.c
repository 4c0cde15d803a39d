/* test_junit.c - JUnit XML of findings (junit.c): markup and forbidden
 * characters never reach the document raw, invalid UTF-8 becomes U+FFFD,
 * valid text stays, and testcases fail by status and severity. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/junit.h"
#include "check.h"

static const char *esc(const char *in, size_t n, bool attr)
{
	static struct buf b;
	buf_free(&b, false);
	buf_init(&b, 1024);
	CHECK(junit_escape(&b, in, n, attr) == 0);
	return b.data ? b.data : "";
}
#define ESC(s, attr) esc(s, sizeof(s) - 1, attr)

static void test_escape(void)
{
	CHECK(strcmp(ESC("a & b < c > d", false), "a &amp; b &lt; c &gt; d") ==
	      0);
	CHECK(strcmp(ESC("\"q\" 'a'", true), "&quot;q&quot; &apos;a&apos;") ==
	      0);
	CHECK(strcmp(ESC("]]>", false), "]]&gt;") == 0);
	/* Tabs and line ends: kept in text, references in attributes. */
	CHECK(strcmp(ESC("a\tb\nc", false), "a\tb\nc") == 0);
	CHECK(strcmp(ESC("a\tb\nc\rd", true), "a&#9;b&#10;c&#13;d") == 0);
	/* C0 controls (NUL too) are not XML 1.0 characters at all. */
	CHECK(strcmp(ESC("x\x01y\x1b\x7f", false),
		     "x\xef\xbf\xbdy\xef\xbf\xbd\x7f") == 0);
	CHECK(strcmp(ESC("a\0b", false), "a\xef\xbf\xbd"
					 "b") == 0);
	/* Invalid UTF-8, byte by byte; valid UTF-8 kept. */
	CHECK(strcmp(ESC("bad\xff", false), "bad\xef\xbf\xbd") == 0);
	CHECK(strcmp(ESC("\xc0\xaf", false), "\xef\xbf\xbd\xef\xbf\xbd") == 0);
	CHECK(strcmp(ESC("cut\xe2\x9c", false),
		     "cut\xef\xbf\xbd\xef\xbf\xbd") == 0);
	CHECK(strcmp(ESC("\xed\xa0\x80", false),
		     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") == 0);
	CHECK(strcmp(ESC("ok \xe2\x9c\x93 \xf0\x9f\x94\x92", true),
		     "ok \xe2\x9c\x93 \xf0\x9f\x94\x92") == 0);
	/* U+FFFE and U+FFFF are valid UTF-8 but not XML characters. */
	CHECK(strcmp(ESC("\xef\xbf\xbe\xef\xbf\xbf", false),
		     "\xef\xbf\xbd\xef\xbf\xbd") == 0);
	CHECK(strcmp(ESC("\xef\xbf\xbd", false), "\xef\xbf\xbd") == 0);
	/* A full buffer is an error, not a silent cut. */
	struct buf b;
	buf_init(&b, 4);
	CHECK(junit_escape(&b, "&&", 2, false) == -1);
	buf_free(&b, false);
}

static cJSON *finding(const char *id, const char *sev, const char *status,
		      const char *title)
{
	cJSON *v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, "vulnerabilityId", id);
	cJSON_AddStringToObject(v, "severity", sev);
	cJSON_AddStringToObject(v, "status", status);
	cJSON_AddStringToObject(v, "title", title);
	cJSON_AddStringToObject(v, "category", "API1:2023 <BOLA>");
	cJSON_AddStringToObject(v, "description", "d & d");
	cJSON_AddStringToObject(v, "remediation", "fix it");
	cJSON_AddStringToObject(v, "updatedAt", "2024-05-01T10:00:00Z");
	cJSON *ep = cJSON_AddObjectToObject(v, "endpoint");
	cJSON_AddStringToObject(ep, "method", "GET");
	cJSON_AddStringToObject(ep, "path", "/a/{id}");
	return v;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_report(void)
{
	CHECK(junit_fail_level() == JUNIT_HIGH);
	CHECK(junit_set_fail("severe") == -EINVAL);
	CHECK(junit_fail_level() == JUNIT_HIGH);
	CHECK(junit_severity("critical") == JUNIT_CRITICAL &&
	      junit_severity("info") == JUNIT_INFO &&
	      junit_severity(NULL) == -1);

	cJSON *v[] = {
		finding("vuln_1", "critical", "ACTIVE", "t1 & <x>"),
		finding("vuln_2", "high", "ACTIVE", "t2"),
		finding("vuln_3", "medium", "ACTIVE", "t3"),
		finding("vuln_4", "critical", "DISMISSED", "t4"),
		finding("vuln_5", "bogus", "ACTIVE", "t5"),
	};
	size_t nv = sizeof(v) / sizeof(v[0]);
	struct junit j;
	struct buf out;
	junit_init(&j, JUNIT_HIGH, 1 << 20);
	for (size_t i = 0; i < nv; i++)
		CHECK(junit_add(&j, v[i]) == 0);
	buf_init(&out, 1 << 20);
	CHECK(junit_finish(&j, "scan_\"1", &out) == 0);
	/* critical, high and the unknown severity fail; medium passes, and a
	 * dismissed critical passes. */
	CHECK(j.tests == 5 && j.failures == 3);
	CHECK(strstr(out.data, "<testsuite name=\"apisec scan_&quot;1\" "
			       "tests=\"5\" failures=\"3\"") != NULL);
	CHECK(count(out.data, "<testcase ") == 5);
	CHECK(count(out.data, "<failure ") == 3);
	CHECK(strstr(out.data, "classname=\"API1:2023 &lt;BOLA&gt;\" "
			       "name=\"GET /a/{id} [vuln_1]\">") != NULL);
	CHECK(strstr(out.data, "<failure type=\"critical\" message=\"t1 &amp; "
			       "&lt;x&gt;\">d &amp; d\n\nRemediation: fix it"
			       "</failure>") != NULL);
	CHECK(strstr(out.data, "name=\"GET /a/{id} [vuln_3]\"/>") != NULL);
	CHECK(j.mtime > 0);
	junit_free(&j);
	buf_free(&out, false);

	/* A lower threshold fails the medium one too. */
	junit_init(&j, JUNIT_MEDIUM, 1 << 20);
	for (size_t i = 0; i < nv; i++)
		CHECK(junit_add(&j, v[i]) == 0);
	CHECK(j.failures == 4);
	junit_free(&j);
	/* No findings: an empty, valid suite. */
	junit_init(&j, JUNIT_HIGH, 1 << 20);
	buf_init(&out, 1 << 20);
	CHECK(junit_finish(&j, "s", &out) == 0);
	CHECK(strstr(out.data, "tests=\"0\" failures=\"0\"") != NULL &&
	      strstr(out.data, "</testsuites>\n") != NULL);
	junit_free(&j);
	buf_free(&out, false);
	for (size_t i = 0; i < nv; i++)
		cJSON_Delete(v[i]);
	CHECK(junit_set_fail("low") == 0 && junit_fail_level() == JUNIT_LOW);
}

int main(void)
{
	test_escape();
	test_report();
	esc("", 0, false); /* frees the last buffer */
	return check_report("test_junit");
}
