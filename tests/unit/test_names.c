/* test_names.c - the name mapping: safe, stable, bounded, unique. */
#include <stdlib.h>
#include <string.h>

#include "apisecfs/names.h"
#include "check.h"

static const char *map(const char *in)
{
	static char out[NAMES_BASE_MAX + 8];
	names_sanitize(in, out, sizeof(out));
	return out;
}

static void test_sanitize(void)
{
	CHECK(strcmp(map("payments-api"), "payments-api") == 0);
	CHECK(strcmp(map("a/b"), "a_b") == 0);
	CHECK(strcmp(map(".."), "_..") == 0);
	CHECK(strcmp(map("."), "_.") == 0);
	CHECK(strcmp(map(""), "_") == 0);
	CHECK(strcmp(map("tab\there"), "tab_here") == 0);
	CHECK(strcmp(map("Zahlungs-API \xe2\x9c\x93"),
		     "Zahlungs-API \xe2\x9c\x93") == 0);
	CHECK(strcmp(map("bad\xff"), "bad_") == 0);
	/* Overlong encodings and surrogates are not valid UTF-8. */
	CHECK(strcmp(map("\xc0\xaf"), "__") == 0);
	CHECK(strcmp(map("\xed\xa0\x80"), "___") == 0);

	char longname[10001];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(strlen(map(longname)) == NAMES_BASE_MAX);
	/* Cutting never splits a multi-byte character. */
	char uni[1000] = "";
	for (int i = 0; i < 150; i++)
		strcat(uni, "\xc3\xa9");
	const char *m = map(uni);
	CHECK(strlen(m) % 2 == 0 && strlen(m) <= NAMES_BASE_MAX);
}

static void test_assign(void)
{
	struct names_entry e[] = {
		{ "a_b", "app_2", NULL },  { "a/b", "app_1", NULL },
		{ "new", "app_3", NULL },  { "same", "app_5", NULL },
		{ "same", "app_4", NULL }, { NULL, "app_6", NULL },
		{ "dup", "x", NULL },	   { "dup", "x", NULL },
	};
	size_t n = sizeof(e) / sizeof(*e);
	static const char *const reserved[] = { "new", NULL };
	CHECK(names_assign(e, n, "", reserved) == 0);
	/* The exact name wins the plain slot. */
	CHECK(strcmp(e[0].name, "a_b") == 0);
	CHECK(strcmp(e[1].name, "a_b~app_1") == 0);
	CHECK(strcmp(e[2].name, "new~app_3") == 0);
	/* Ties between exact names: the smallest id keeps the plain name. */
	CHECK(strcmp(e[4].name, "same") == 0);
	CHECK(strcmp(e[3].name, "same~app_5") == 0);
	CHECK(strcmp(e[5].name, "app_6") == 0);
	CHECK(strcmp(e[6].name, e[7].name) != 0);
	for (size_t i = 0; i < n; i++) {
		CHECK(strlen(e[i].name) <= 255);
		CHECK(!strchr(e[i].name, '/'));
		for (size_t j = i + 1; j < n; j++)
			CHECK(strcmp(e[i].name, e[j].name) != 0);
		free(e[i].name);
	}

	struct names_entry v[] = { { NULL, "vuln_1", NULL } };
	CHECK(names_assign(v, 1, ".json", NULL) == 0);
	CHECK(strcmp(v[0].name, "vuln_1.json") == 0);
	free(v[0].name);
}

/* A link's target is the name names_assign gives the item at home. */
static void test_home(void)
{
	static const char *const res[] = { "new", NULL };
	char out[NAMES_BASE_MAX + NAMES_ID_MAX + 16];
	struct names_entry e[] = { { NULL, "new", NULL },
				   { NULL, "scan_1", NULL } };
	CHECK(names_assign(e, 2, "", res) == 0);
	names_home("new", "", res, out, sizeof(out));
	CHECK(strcmp(out, e[0].name) == 0 && strcmp(out, "new~new") == 0);
	names_home("scan_1", "", res, out, sizeof(out));
	CHECK(strcmp(out, e[1].name) == 0);
	names_home("new", ".json", res, out, sizeof(out));
	CHECK(strcmp(out, "new.json") == 0);
	names_home("a/b", "", NULL, out, sizeof(out));
	CHECK(strcmp(out, "a_b") == 0);
	free(e[0].name);
	free(e[1].name);
}

int main(void)
{
	test_sanitize();
	test_assign();
	test_home();
	return check_report("test_names");
}
