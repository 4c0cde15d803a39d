/* test_json.c - hostile-input behaviour of the JSON helpers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/json.h"
#include "check.h"

int main(void)
{
	CHECK(json_parse_time("2026-11-22T10:00:00Z") == 1795341600);
	CHECK(json_parse_time("2026-11-22T11:00:00+01:00") == 1795341600);
	CHECK(json_parse_time("2026-11-22T10:00:00.123Z") == 1795341600);
	CHECK(json_parse_time("garbage") == 0);
	CHECK(json_parse_time(NULL) == 0);

	cJSON *v = json_parse("{\"a\":1} ", 8);
	CHECK(v != NULL);
	CHECK(json_num(v, "a", 0) == 1);
	CHECK(json_str(v, "a") == NULL); /* wrong type: no crash */
	cJSON_Delete(v);
	/* Truncated and trailing garbage are errors, never half trees. */
	CHECK(json_parse("{\"a\":[1,2", 9) == NULL);
	CHECK(json_parse("{\"a\":1}xyz", 10) == NULL);
	CHECK(json_parse("", 0) == NULL);

	char deep[4000];
	memset(deep, '[', sizeof(deep));
	CHECK(json_parse(deep, sizeof(deep)) == NULL);
	/* Rendering matches jq's layout and escapes what JSON needs. */
	cJSON *o = json_parse("{\"a\":[1,2.5,\"x\\\"\\u0001\"],\"b\":{},"
			      "\"c\":true,\"d\":null}",
			      51);
	CHECK(o != NULL);
	struct buf b;
	buf_init(&b, 1 << 20);
	CHECK(json_render_pretty(o, &b) == 0);
	CHECK(b.data &&
	      strcmp(b.data, "{\n  \"a\": [\n    1,\n    2.5,\n    "
			     "\"x\\\"\\u0001\"\n  ],\n  \"b\": {},\n"
			     "  \"c\": true,\n  \"d\": null\n}\n") == 0);
	buf_reset(&b);
	CHECK(json_render_line(o, &b) == 0);
	CHECK(b.data &&
	      strcmp(b.data, "{\"a\":[1,2.5,\"x\\\"\\u0001\"],"
			     "\"b\":{},\"c\":true,\"d\":null}\n") == 0);
	CHECK(json_line_len(o) == b.len);
	/* The count matches the render on every kind of value and escape
	 * (all.jsonl's size is the sum of these counts). */
	static const char *const docs[] = {
		"{\"t\":\"tab\\tnl\\ncr\\rbs\\\\q\\\"\\b\\f\\u001f\\u007f\"}",
		"[1e300,-0.1,3,123456789012345678,0.30000000000000004,[],{}]",
		"{\"\\u0000k\":\"\\u00e9\\u2028\",\"n\":[null,false,true]}",
		"\"plain\"",
		"42",
		"{\"a\":{\"b\":{\"c\":[[[]]]}}}",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		cJSON *d = json_parse(docs[i], strlen(docs[i]));
		CHECK(d != NULL);
		buf_reset(&b);
		CHECK(json_render_line(d, &b) == 0);
		CHECK(json_line_len(d) == b.len);
		cJSON_Delete(d);
	}
	cJSON_Delete(o);
	/* Too deep to render is too deep to count. */
	cJSON *nest = cJSON_CreateArray();
	cJSON *cur = nest;
	for (int i = 0; i < JSON_MAX_DEPTH + 2; i++) {
		cJSON *in = cJSON_CreateArray();
		cJSON_AddItemToArray(cur, in);
		cur = in;
	}
	CHECK(json_line_len(nest) == SIZE_MAX);
	cJSON_Delete(nest);
	/* Numbers print as %.15g (or %.17g when that does not read back)
	 * would print them, fast path or not. */
	for (long m = -2000003; m <= 2000003; m += 997) {
		double vals[] = { m / 1000.0, m / 100.0, m / 7.0, m * 1e-7,
				  m * 1234.5678 };
		for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
			double d = vals[k];
			char want[40];
			if (d == (double)(long long)d && d < 1e15 && d > -1e15)
				snprintf(want, sizeof(want), "%lld\n",
					 (long long)d);
			else {
				snprintf(want, sizeof(want), "%.15g", d);
				if (strtod(want, NULL) != d)
					snprintf(want, sizeof(want), "%.17g",
						 d);
				strcat(want, "\n");
			}
			cJSON *num = cJSON_CreateNumber(d);
			buf_reset(&b);
			CHECK(json_render_line(num, &b) == 0);
			CHECK(b.data && strcmp(b.data, want) == 0);
			CHECK(json_line_len(num) == b.len);
			cJSON_Delete(num);
		}
	}
	/* Each special byte at each place of a word (the escaping scans
	 * eight bytes at a time), against a byte-at-a-time reference. */
	static const char specials[] = "\"\\\n\x01\x1f\x7f\xc3\xa9 ";
	for (size_t sp = 0; sp < sizeof(specials) - 1; sp++)
		for (size_t at = 0; at < 19; at++) {
			char in[20], want[64], *w = want;
			memset(in, 'a', 19);
			in[19] = '\0';
			in[at] = specials[sp];
			*w++ = '"';
			for (const unsigned char *p =
				     (const unsigned char *)in;
			     *p; p++) {
				if (*p == '"' || *p == '\\') {
					*w++ = '\\';
					*w++ = (char)*p;
				} else if (*p == '\n') {
					*w++ = '\\';
					*w++ = 'n';
				} else if (*p < 0x20) {
					w += sprintf(w, "\\u%04x", *p);
				} else {
					*w++ = (char)*p;
				}
			}
			strcpy(w, "\"\n");
			cJSON *str = cJSON_CreateString(in);
			buf_reset(&b);
			CHECK(json_render_line(str, &b) == 0);
			CHECK(b.data && strcmp(b.data, want) == 0);
			CHECK(json_line_len(str) == b.len);
			cJSON_Delete(str);
		}
	/* Pages parsed into an arena; a line's size known from the pretty
	 * render of the same item, and not from another page's at the same
	 * address. */
	static const char *const pages[] = {
		"{\"items\":[{\"a\":\"x\\ny\",\"b\":[1,2.5,{}],\"c\":{\"d\":[]"
		"}},"
		"{\"k\":\"\\u0001\"}]}",
		"{\"items\":[{\"a\":\"longer text "
		"here\",\"b\":[1,2,3,4,5,6,7],"
		"\"c\":null},{\"k\":true,\"l\":false}]}",
	};
	for (int round = 0; round < 4; round++) {
		const char *pg = pages[round % 2];
		struct json_arena *ar;
		cJSON *page = json_parse_page(pg, strlen(pg), &ar);
		CHECK(page != NULL && ar != NULL);
		const cJSON *it;
		cJSON_ArrayForEach (it, cJSON_GetObjectItem(page, "items")) {
			struct buf line, pretty;
			buf_init(&line, 1 << 16);
			buf_init(&pretty, 1 << 16);
			CHECK(json_render_line(it, &line) == 0);
			if (round < 2) /* memo from the pretty render */
				CHECK(json_render_pretty(it, &pretty) == 0);
			CHECK(json_line_len(it) == line.len);
			buf_free(&line, false);
			buf_free(&pretty, false);
		}
		json_arena_free(ar);
	}
	struct json_arena *bad;
	CHECK(json_parse_page("{\"items\":[1,", 11, &bad) == NULL);
	CHECK(bad == NULL);
	buf_free(&b, false);
	/* The content digest sees every byte and the length. */
	char x[40] = "0123456789abcdef0123456789abcdef0123456";
	uint64_t d0 = buf_digest(x, 39);
	for (size_t i = 0; i < 39; i++) {
		x[i] ^= 1;
		CHECK(buf_digest(x, 39) != d0);
		x[i] ^= 1;
	}
	CHECK(buf_digest(x, 38) != d0 && buf_digest(x, 39) == d0);
	return check_report("test_json");
}
