/* test_json.c - hostile-input behaviour of the JSON helpers. */
#include <stdint.h>
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
			      "\"c\":true,\"d\":null}", 51);
	CHECK(o != NULL);
	struct buf b;
	buf_init(&b, 1 << 20);
	CHECK(json_render_pretty(o, &b) == 0);
	CHECK(b.data && strcmp(b.data, "{\n  \"a\": [\n    1,\n    2.5,\n    "
					"\"x\\\"\\u0001\"\n  ],\n  \"b\": {},\n"
					"  \"c\": true,\n  \"d\": null\n}\n") == 0);
	buf_reset(&b);
	CHECK(json_render_line(o, &b) == 0);
	CHECK(b.data && strcmp(b.data, "{\"a\":[1,2.5,\"x\\\"\\u0001\"],"
					"\"b\":{},\"c\":true,\"d\":null}\n") == 0);
	CHECK(json_line_len(o) == b.len);
	/* The count matches the render on every kind of value and escape
	 * (all.jsonl's size is the sum of these counts). */
	static const char *const docs[] = {
		"{\"t\":\"tab\\tnl\\ncr\\rbs\\\\q\\\"\\b\\f\\u001f\\u007f\"}",
		"[1e300,-0.1,3,123456789012345678,0.30000000000000004,[],{}]",
		"{\"\\u0000k\":\"\\u00e9\\u2028\",\"n\":[null,false,true]}",
		"\"plain\"", "42", "{\"a\":{\"b\":{\"c\":[[[]]]}}}",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		cJSON *d = json_parse(docs[i], strlen(docs[i]));
		CHECK(d != NULL);
		buf_reset(&b);
		CHECK(json_render_line(d, &b) == 0);
		CHECK(json_line_len(d) == b.len);
		cJSON_Delete(d);
	}
	buf_free(&b, false);
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
