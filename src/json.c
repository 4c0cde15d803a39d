/* json.c - NULL-safe cJSON getters, RFC 3339 parsing, renderers. A leaf. */
#include <stdint.h>
#include <stdio.h>
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

/* ---- rendering ---------------------------------------------------- */

/* JSON string escaping as jq prints it: quotes, backslash and control
 * characters escaped, everything else (UTF-8 included) as it is. */
static int put_string(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	int rc = buf_append(out, "\"", 1);
	for (; !rc && *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *esc = NULL;
		char u[7];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default:
			snprintf(u, sizeof(u), "\\u00%c%c", hex[c >> 4],
				 hex[c & 15]);
			esc = u;
		}
		rc = buf_append(out, run, (size_t)(s - run));
		if (!rc)
			rc = buf_append(out, esc, strlen(esc));
		run = s + 1;
	}
	if (!rc)
		rc = buf_append(out, run, (size_t)(s - run));
	return rc ? rc : buf_append(out, "\"", 1);
}

/* Shortest text that reads back as the same double; integers plain.
 * tmp gets it (no more than 32 bytes); returns its length. */
static size_t number_text(double d, char tmp[32])
{
	if (d != d || d - d != 0) /* NaN, inf: not JSON */
		return (size_t)snprintf(tmp, 32, "null");
	if (d == (double)(long long)d && d < 1e15 && d > -1e15)
		return (size_t)snprintf(tmp, 32, "%lld", (long long)d);
	snprintf(tmp, 32, "%.15g", d);
	if (strtod(tmp, NULL) != d)
		snprintf(tmp, 32, "%.17g", d);
	return strlen(tmp);
}

static int put_number(struct buf *out, double d)
{
	char tmp[32];
	size_t n = number_text(d, tmp);
	return buf_append(out, tmp, n);
}

static int indent(struct buf *out, int depth)
{
	static const char spaces[] = "                                ";
	int rc = buf_append(out, "\n", 1);
	for (int n = depth * 2; !rc && n > 0; n -= 32)
		rc = buf_append(out, spaces, n < 32 ? (size_t)n : 32);
	return rc;
}

static int put_value(struct buf *out, const cJSON *v, int depth,
		     bool pretty)
{
	if (depth > JSON_MAX_DEPTH)
		return -1;
	if (cJSON_IsString(v))
		return put_string(out, v->valuestring ? v->valuestring : "");
	if (cJSON_IsNumber(v))
		return put_number(out, v->valuedouble);
	if (cJSON_IsTrue(v))
		return buf_append(out, "true", 4);
	if (cJSON_IsFalse(v))
		return buf_append(out, "false", 5);
	if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
		return buf_append(out, "null", 4);

	bool obj = cJSON_IsObject(v);
	int rc = buf_append(out, obj ? "{" : "[", 1);
	const cJSON *c;
	bool first = true;
	cJSON_ArrayForEach(c, v) {
		if (rc)
			break;
		if (!first)
			rc = buf_append(out, ",", 1);
		first = false;
		if (!rc && pretty)
			rc = indent(out, depth + 1);
		if (!rc && obj) {
			rc = put_string(out, c->string ? c->string : "");
			if (!rc)
				rc = buf_append(out, pretty ? ": " : ":",
						pretty ? 2 : 1);
		}
		if (!rc)
			rc = put_value(out, c, depth + 1, pretty);
	}
	if (!rc && pretty && !first)
		rc = indent(out, depth);
	return rc ? rc : buf_append(out, obj ? "}" : "]", 1);
}

static int render(const cJSON *obj, struct buf *out, bool pretty)
{
	size_t start = out->len;
	int rc = put_value(out, obj, 0, pretty);
	if (!rc)
		rc = buf_append(out, "\n", 1);
	if (rc) { /* all or nothing: no half-rendered document */
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
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

/* ---- measuring ---------------------------------------------------- */

/* Bytes put_string makes of s. */
static size_t string_len(const char *s)
{
	size_t n = 2;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			n++;
		else if (*p == '"' || *p == '\\' || *p == '\n' || *p == '\r' ||
			 *p == '\t' || *p == '\b' || *p == '\f')
			n += 2;
		else
			n += 6; /* \u00XX */
	}
	return n;
}

/* Bytes put_value(v, depth, false) makes, or SIZE_MAX when too deep. */
static size_t line_len(const cJSON *v, int depth)
{
	if (depth > JSON_MAX_DEPTH)
		return SIZE_MAX;
	if (cJSON_IsString(v))
		return string_len(v->valuestring ? v->valuestring : "");
	if (cJSON_IsNumber(v)) {
		char tmp[32];
		return number_text(v->valuedouble, tmp);
	}
	if (cJSON_IsTrue(v))
		return 4;
	if (cJSON_IsFalse(v))
		return 5;
	if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
		return 4;
	bool obj = cJSON_IsObject(v);
	size_t n = 2; /* the brackets */
	const cJSON *c;
	bool first = true;
	cJSON_ArrayForEach(c, v) {
		size_t m = line_len(c, depth + 1);
		if (m == SIZE_MAX)
			return SIZE_MAX;
		n += m + !first;
		if (obj)
			n += string_len(c->string ? c->string : "") + 1;
		first = false;
	}
	return n;
}

size_t json_line_len(const cJSON *obj)
{
	size_t n = line_len(obj, 0);
	return n == SIZE_MAX ? n : n + 1;
}
