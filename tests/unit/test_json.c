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
	return check_report("test_json");
}
