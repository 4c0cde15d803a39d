/* junit.c - JUnit XML of a scan's findings (see junit.h).
 *
 * Escaping first (the one place foreign bytes meet the XML), then the
 * testcases, then the document: its head carries the counts, so the
 * testcases are built before it and appended after.
 */
#include <errno.h>
#include <string.h>

#include "apisecfs/esc.h"
#include "apisecfs/json.h"
#include "apisecfs/junit.h"

static const char *const sev_words[] = { "info", "low", "medium", "high",
					 "critical" };

int junit_severity(const char *word)
{
	for (int i = 0; word && i <= JUNIT_CRITICAL; i++)
		if (strcmp(word, sev_words[i]) == 0)
			return i;
	return -1;
}

/* Set once at start-up, before the mount serves. */
static enum junit_sev fail_level = JUNIT_HIGH;

int junit_set_fail(const char *word)
{
	int s = junit_severity(word);
	if (s < 0)
		return -EINVAL;
	fail_level = (enum junit_sev)s;
	return 0;
}

enum junit_sev junit_fail_level(void)
{
	return fail_level;
}

/* ---- escaping ----------------------------------------------------- */

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

int junit_escape(struct buf *b, const char *s, size_t n, bool attr)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned char c = u[i];
		const char *rep = NULL;
		size_t len = 1;
		switch (c) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break; /* "]]>" is not allowed raw */
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		/* A parser turns a raw CR (and, in attributes, TAB and LF)
		 * into something else: references keep them. */
		case '\r': rep = "&#13;"; break;
		case '\t': rep = attr ? "&#9;" : NULL; break;
		case '\n': rep = attr ? "&#10;" : NULL; break;
		default:
			if (c < 0x20) {
				rep = REPLACEMENT; /* not an XML 1.0 char */
			} else if (c >= 0x80) {
				len = esc_utf8_len(u + i, n - i);
				/* U+FFFE and U+FFFF are not XML chars either. */
				if (!len ||
				    (len == 3 && c == 0xef &&
				     u[i + 1] == 0xbf && u[i + 2] >= 0xbe)) {
					rep = REPLACEMENT;
					len = len ? len : 1;
				}
			}
		}
		int rc = rep ? buf_append(b, rep, strlen(rep))
			     : buf_append(b, s + i, len);
		if (rc)
			return -1;
		i += len;
	}
	return 0;
}

static int escape_str(struct buf *b, const char *s, bool attr)
{
	return s ? junit_escape(b, s, strlen(s), attr) : 0;
}

/* ---- the report --------------------------------------------------- */

void junit_init(struct junit *j, enum junit_sev fail_at, size_t cap)
{
	memset(j, 0, sizeof(*j));
	buf_init(&j->cases, cap);
	j->fail_at = fail_at;
}

void junit_free(struct junit *j)
{
	buf_free(&j->cases, false);
}

/* A severity the contract does not name fails the case: a gate that
 * cannot tell must not pass. */
static bool fails(const struct junit *j, const cJSON *v)
{
	const char *status = json_str(v, "status");
	int sev = junit_severity(json_str(v, "severity"));
	return status && strcmp(status, "ACTIVE") == 0 &&
	       (sev < 0 || sev >= (int)j->fail_at);
}

int junit_add(struct junit *j, const cJSON *v)
{
	const cJSON *ep = cJSON_GetObjectItemCaseSensitive(v, "endpoint");
	const char *desc = json_str(v, "description");
	const char *fix = json_str(v, "remediation");
	struct buf *b = &j->cases;
	bool failed = fails(j, v);
	time_t mt = json_time(v, "updatedAt");
	if (!mt)
		mt = json_time(v, "detectedAt");
	if (mt > j->mtime)
		j->mtime = mt;
	int rc = buf_printf(b, "    <testcase classname=\"") ||
		 escape_str(b, json_str(v, "category"), true) ||
		 buf_printf(b, "\" name=\"") ||
		 escape_str(b, json_str(ep, "method"), true) ||
		 buf_printf(b, " ") ||
		 escape_str(b, json_str(ep, "path"), true) ||
		 buf_printf(b, " [") ||
		 escape_str(b, json_str(v, "vulnerabilityId"), true) ||
		 buf_printf(b, "]\"");
	if (!rc && !failed)
		rc = buf_printf(b, "/>\n");
	if (!rc && failed)
		rc = buf_printf(b, ">\n      <failure type=\"") ||
		     escape_str(b, json_str(v, "severity"), true) ||
		     buf_printf(b, "\" message=\"") ||
		     escape_str(b, json_str(v, "title"), true) ||
		     buf_printf(b, "\">") || escape_str(b, desc, false) ||
		     (fix &&
		      (buf_printf(b, "%sRemediation: ", desc ? "\n\n" : "") ||
		       escape_str(b, fix, false))) ||
		     buf_printf(b, "</failure>\n    </testcase>\n");
	if (rc)
		return -1;
	j->tests++;
	j->failures += failed;
	return 0;
}

int junit_finish(struct junit *j, const char *scan_id, struct buf *out)
{
	return buf_printf(out,
			  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			  "<testsuites tests=\"%zu\" failures=\"%zu\">\n"
			  "  <testsuite name=\"apisec ",
			  j->tests, j->failures) ||
			       escape_str(out, scan_id, true) ||
			       buf_printf(out,
					  "\" tests=\"%zu\" failures=\"%zu\" "
					  "errors=\"0\" skipped=\"0\">\n",
					  j->tests, j->failures) ||
			       buf_append(out,
					  j->cases.data ? j->cases.data : "",
					  j->cases.len) ||
			       buf_printf(out,
					  "  </testsuite>\n</testsuites>\n")
		       ? -1
		       : 0;
}
