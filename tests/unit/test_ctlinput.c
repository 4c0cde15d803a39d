/* test_ctlinput.c - what the control files' callbacks read from their
 * input (ctlinput.c): a word trimmed of white space, input complete at a
 * newline or once JSON (which may span lines) parses, and input complete
 * once there is any. */
#include <stdlib.h>
#include <string.h>

#include "apisecfs/ctlinput.h"
#include "check.h"

static bool word_is(const char *in, const char *want)
{
	char *w = ctlinput_word(in, strlen(in));
	bool ok = want ? w && strcmp(w, want) == 0 : w == NULL;
	free(w);
	return ok;
}

static bool complete(const char *in)
{
	return ctlinput_line_or_json(in, strlen(in));
}

int main(void)
{
	CHECK(word_is("  abc \r\n", "abc"));
	CHECK(word_is("a b\n", "a b")); /* inner space stays */
	CHECK(word_is("\t\n \r", NULL));
	CHECK(word_is("", NULL));
	/* Only the length given counts, not a NUL past it. */
	char *w = ctlinput_word("xyz", 2);
	CHECK(w && strcmp(w, "xy") == 0);
	free(w);

	CHECK(!complete(""));
	CHECK(!complete("scan"));
	CHECK(complete("scan\n"));
	CHECK(!complete("{\"a\":\n"));	 /* JSON not done: a newline is not */
	CHECK(complete(" {\"a\":\n1}")); /* parses: done without a newline */
	CHECK(complete("[1, 2]"));
	CHECK(!complete("[1, 2"));

	CHECK(!ctlinput_any("", 0));
	CHECK(!ctlinput_any("x", 0)); /* the length, not the pointer */
	CHECK(ctlinput_any("\n", 1));
	CHECK(ctlinput_any("\0", 1));
	return check_report("test_ctlinput");
}
