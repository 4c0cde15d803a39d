/* json.c - NULL-safe cJSON getters, RFC 3339 parsing, renderers. A leaf. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/json.h"

/* ---- the page arena ------------------------------------------------ */

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	_Alignas(16) unsigned char data[];
};

struct json_arena {
	struct arena_block *head;
	size_t next_size;
};

/* Set only while this thread parses a page: cJSON's allocations go to it
 * and its frees (of a half-built tree) are no-ops. */
static __thread struct json_arena *arena_now;
/* The arena of the page this thread parsed or adopted last, while this
 * thread holds it (a page shared by threads is unadopted by each before
 * any frees it), and a count of such changes: a memo of an item is good
 * while it has not moved. */
static __thread struct json_arena *arena_last;
static __thread uint64_t arena_serial;

static bool arena_owns(const struct json_arena *a, const void *p)
{
	for (const struct arena_block *b = a ? a->head : NULL; b; b = b->next)
		if ((const unsigned char *)p >= b->data &&
		    (const unsigned char *)p < b->data + b->used)
			return true;
	return false;
}

static void *arena_alloc(struct json_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct arena_block *b = a->head;
	if (!b || b->size - b->used < n) {
		size_t size = a->next_size > n ? a->next_size : n;
		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->next = a->head;
		b->used = 0;
		b->size = size;
		a->head = b;
		a->next_size = size * 2;
	}
	void *p = b->data + b->used;
	b->used += n;
	return p;
}

static void *hook_malloc(size_t n)
{
	return arena_now ? arena_alloc(arena_now, n) : malloc(n);
}

static void hook_free(void *p)
{
	if (!arena_now)
		free(p);
}

/* Before main and before any thread: cJSON's hooks are process-wide. */
__attribute__((constructor)) static void json_hooks_init(void)
{
	cJSON_Hooks h = { hook_malloc, hook_free };
	cJSON_InitHooks(&h);
}

void json_arena_free(struct json_arena *a)
{
	if (!a)
		return;
	if (a == arena_last) {
		arena_last = NULL;
		arena_serial++;
	}
	for (struct arena_block *b = a->head, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

size_t json_arena_bytes(const struct json_arena *a)
{
	size_t n = 0;
	for (const struct arena_block *b = a ? a->head : NULL; b; b = b->next)
		n += b->used;
	return n;
}

void json_arena_adopt(struct json_arena *a)
{
	arena_last = a;
	arena_serial++;
}

void json_arena_unadopt(const struct json_arena *a)
{
	if (a && a == arena_last) {
		arena_last = NULL;
		arena_serial++;
	}
}

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
	while (end && end < stop &&
	       (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t' ||
		!*end))
		end++;
	if (end != stop) {
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}

cJSON *json_parse_page(const char *data, size_t len, struct json_arena **arena)
{
	struct json_arena *a = calloc(1, sizeof(*a));
	*arena = NULL;
	if (!a)
		return NULL;
	/* Nodes and strings take about three times the text. */
	a->next_size = len < 4096 ? 16384 : len * 3;
	arena_now = a;
	cJSON *v = json_parse(data, len);
	arena_now = NULL;
	if (!v) {
		json_arena_free(a);
		return NULL;
	}
	*arena = a;
	arena_last = a;
	arena_serial++;
	return v;
}

/* ---- rendering ---------------------------------------------------- */

/* The length of the run at s (n bytes, no NUL among them) that needs no
 * escaping: eight bytes at a time while no byte of the word is a control
 * character, a quote or a backslash (most strings are one such run). */
static size_t plain_run(const char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, high = ones * 0x80;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w, q, b;
		memcpy(&w, s + i, 8);
		q = w ^ (ones * '"');
		b = w ^ (ones * '\\');
		/* A byte below 0x20, or zero after the xor, sets its high bit
		 * (bytes >= 0x80 are masked out by ~w / ~q / ~b). */
		if ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) |
		     ((b - ones) & ~b)) &
		    high)
			break;
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == '"' || c == '\\')
			break;
	}
	return i;
}

/* JSON string escaping as jq prints it: quotes, backslash and control
 * characters escaped, everything else (UTF-8 included) as it is. */
static int put_string(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t left = strlen(s);
	int rc = buf_append(out, "\"", 1);
	while (!rc && left) {
		size_t k = plain_run(s, left);
		rc = buf_append(out, s, k);
		s += k;
		left -= k;
		if (rc || !left)
			break;
		const char *esc;
		char u[7];
		switch ((unsigned char)*s) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default:
			snprintf(u, sizeof(u), "\\u00%c%c",
				 hex[(unsigned char)*s >> 4],
				 hex[(unsigned char)*s & 15]);
			esc = u;
		}
		rc = buf_append(out, esc, strlen(esc));
		s++;
		left--;
	}
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
	/* Scores and the like have a few decimals: when d is the double
	 * nearest to m / 1000, %.15g prints that decimal, so print it without
	 * the formatting and strtod round trip (a tenth of a listing's CPU). */
	if (d > -1e9 && d < 1e9 && (d >= 0.001 || d <= -0.001)) {
		double r = d * 1000.0;
		long long m = (long long)(r < 0 ? r - 0.5 : r + 0.5);
		if ((double)m / 1000.0 == d) {
			char *p = tmp;
			unsigned long long a =
				(unsigned long long)(m < 0 ? -m : m);
			if (m < 0)
				*p++ = '-';
			p += sprintf(p, "%llu", a / 1000);
			unsigned f = (unsigned)(a % 1000);
			*p++ = '.';
			*p++ = (char)('0' + f / 100);
			*p++ = (char)('0' + f / 10 % 10);
			*p++ = (char)('0' + f % 10);
			while (p[-1] == '0')
				p--;
			*p = '\0';
			return (size_t)(p - tmp);
		}
	}
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

/* With pretty, *layout counts the bytes only the pretty form has (line
 * breaks, indents, the space after a colon). */
static int put_value(struct buf *out, const cJSON *v, int depth, bool pretty,
		     size_t *layout)
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
	cJSON_ArrayForEach (c, v) {
		if (rc)
			break;
		if (!first)
			rc = buf_append(out, ",", 1);
		first = false;
		if (!rc && pretty) {
			rc = indent(out, depth + 1);
			*layout += 1 + 2 * (size_t)(depth + 1);
		}
		if (!rc && obj) {
			rc = put_string(out, c->string ? c->string : "");
			if (!rc)
				rc = buf_append(out, pretty ? ": " : ":",
						pretty ? 2 : 1);
			*layout += pretty;
		}
		if (!rc)
			rc = put_value(out, c, depth + 1, pretty, layout);
	}
	if (!rc && pretty && !first) {
		rc = indent(out, depth);
		*layout += 1 + 2 * (size_t)depth;
	}
	return rc ? rc : buf_append(out, obj ? "}" : "]", 1);
}

/* The one-line size of the item of a page tree last rendered pretty on
 * this thread: a listing renders each finding pretty (its file's size)
 * and then measures its line (all.jsonl's size), and the pretty render
 * knows the line's size already. Only for trees in this thread's newest
 * page arena: those never change while they live. */
static __thread struct {
	const cJSON *obj;
	uint64_t serial;
	size_t line_len;
} line_memo;

static int render(const cJSON *obj, struct buf *out, bool pretty)
{
	size_t start = out->len, layout = 0;
	int rc = put_value(out, obj, 0, pretty, &layout);
	if (!rc && pretty && arena_owns(arena_last, obj)) {
		line_memo.obj = obj;
		line_memo.serial = arena_serial;
		line_memo.line_len = out->len - start - layout + 1;
	}
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
	size_t len = strlen(s);
	size_t n = 2;
	for (const unsigned char *p = (const unsigned char *)s, *end = p + len;
	     p < end; p++) {
		size_t k = plain_run((const char *)p, (size_t)(end - p));
		n += k;
		p += k;
		if (p == end)
			break;
		if (*p == '"' || *p == '\\' || *p == '\n' || *p == '\r' ||
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
	cJSON_ArrayForEach (c, v) {
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
	if (obj == line_memo.obj && line_memo.serial == arena_serial &&
	    arena_last)
		return line_memo.line_len;
	size_t n = line_len(obj, 0);
	return n == SIZE_MAX ? n : n + 1;
}
