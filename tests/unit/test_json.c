/* test_json.c - hostile-input behaviour of the JSON helpers. */
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
	buf_free(&b, false);
	cJSON_Delete(o);
	return check_report("test_json");
}
