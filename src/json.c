/* json.c - NULL-safe cJSON getters, RFC 3339 parsing, renderers. A leaf. */
#include <stdlib.h>
#include <string.h>

#include "apisecfs/json.h"

const char *json_str(const cJSON *obj, const char *key)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

double json_num(const cJSON *obj, const char *key, double dflt)
{
	if (!cJSON_IsObject(obj))
		return dflt;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

time_t json_parse_time(const char *s)
{
	if (!s || strlen(s) < 19 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
	    s[16] != ':')
		return 0;
	struct tm tm = { 0 };
	int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	int h = digits(s + 11, 2), mi = digits(s + 14, 2),
	    se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60)
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	time_t t = timegm(&tm);
	const char *p = s + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if ((p[0] == '+' || p[0] == '-') && strlen(p) >= 6 && p[3] == ':') {
		int oh = digits(p + 1, 2), om = digits(p + 4, 2);
		if (oh >= 0 && om >= 0) {
			long off = oh * 3600L + om * 60L;
			t += p[0] == '+' ? -off : off;
		}
	}
	return t < 0 ? 0 : t;
}

time_t json_time(const cJSON *obj, const char *key)
{
	return json_parse_time(json_str(obj, key));
}

cJSON *json_parse(const char *data, size_t len)
{
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(data, len, &end, false);
	if (!v)
		return NULL;
	/* Reject trailing garbage: a truncated-then-padded body must not
	 * half-parse into a tree. */
	const char *stop = data + len;
	while (end && end < stop && (*end == ' ' || *end == '\n' ||
				     *end == '\r' || *end == '\t' || !*end))
		end++;
	if (end != stop) {
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}

static int render(const cJSON *obj, struct buf *out, bool pretty)
{
	char *s = pretty ? cJSON_Print(obj) : cJSON_PrintUnformatted(obj);
	if (!s)
		return -1;
	int rc = buf_append(out, s, strlen(s));
	if (!rc)
		rc = buf_append(out, "\n", 1);
	free(s);
	return rc;
}

int json_render_pretty(const cJSON *obj, struct buf *out)
{
	return render(obj, out, true);
}

int json_render_line(const cJSON *obj, struct buf *out)
{
	return render(obj, out, false);
}
