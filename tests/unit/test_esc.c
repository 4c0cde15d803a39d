/* test_esc.c - escaping foreign text (esc.c) and the log sink that relies
 * on it (log.c): no control character or invalid byte gets through, valid
 * UTF-8 does, and nothing shaped like a token reaches the log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apisecfs/esc.h"
#include "apisecfs/log.h"
#include "check.h"

static const char *esc(const char *in, unsigned flags)
{
	static char out[256];
	esc_text(out, sizeof(out), in, strlen(in), flags);
	return out;
}

static void test_text(void)
{
	CHECK(strcmp(esc("GET /a", 0), "GET /a") == 0);
	CHECK(strcmp(esc("/a\nDELETE /injected", 0),
		     "/a\\nDELETE /injected") == 0);
	CHECK(strcmp(esc("a\tb\rc", 0), "a\\tb\\rc") == 0);
	CHECK(strcmp(esc("\x1b[31mred", 0), "\\x1b[31mred") == 0);
	CHECK(strcmp(esc("del\x7f", 0), "del\\x7f") == 0);
	CHECK(strcmp(esc("\x01", 0), "\\x01") == 0);
	/* Valid UTF-8 stays; invalid bytes and C1 controls do not. */
	CHECK(strcmp(esc("Zahlungs-API \xe2\x9c\x93", 0),
		     "Zahlungs-API \xe2\x9c\x93") == 0);
	CHECK(strcmp(esc("bad\xff", 0), "bad\\xff") == 0);
	CHECK(strcmp(esc("\xc0\xaf", 0), "\\xc0\\xaf") == 0);
	CHECK(strcmp(esc("\xed\xa0\x80", 0), "\\xed\\xa0\\x80") == 0);
	CHECK(strcmp(esc("csi\xc2\x9b"
			 "2J",
			 0),
		     "csi\\xc2\\x9b2J") == 0);
	CHECK(strcmp(esc("nbsp\xc2\xa0", 0), "nbsp\xc2\xa0") == 0);
	CHECK(strcmp(esc("cut\xe2\x9c", 0), "cut\\xe2\\x9c") == 0);
	/* Backslashes: kept in logs, doubled where it must be reversible. */
	CHECK(strcmp(esc("a\\nb", 0), "a\\nb") == 0);
	CHECK(strcmp(esc("a\\nb", ESC_BACKSLASH), "a\\\\nb") == 0);
	/* A NUL inside the counted bytes is a control character too. */
	char out[16];
	CHECK(esc_text(out, sizeof(out), "a\0b", 3, 0) == 6 &&
	      strcmp(out, "a\\x00b") == 0);
	/* Truncation never splits an escape. */
	CHECK(esc_text(out, 4, "ab\ncd", 5, 0) == 2 && strcmp(out, "ab") == 0);
	CHECK(esc_has_ctl("x\ry", 3) && !esc_has_ctl("x y\xc3\xa9", 5));

	struct buf b;
	buf_init(&b, 64);
	CHECK(esc_buf(&b, "p\ta\\th", 6, ESC_BACKSLASH) == 0);
	CHECK(b.data && strcmp(b.data, "p\\ta\\\\th") == 0);
	buf_free(&b, false);
	buf_init(&b, 4);
	CHECK(esc_buf(&b, "\n\n\n", 3, 0) == -1);
	buf_free(&b, false);
}

/* What the log sink wrote to stderr for one message. */
static char *logged(const char *msg)
{
	static char got[4096];
	fflush(stderr);
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
	log_err("%s", msg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	size_t n = fread(got, 1, sizeof(got) - 1, tmp);
	got[n] = '\0';
	fclose(tmp);
	return got;
}

static void test_log_sink(void)
{
	log_init(LOG_LVL_INFO);
	const char *g = logged("GET /v1/x failed: code bad\n"
			       "apisecfs: error: forged\x1b]0;title\x07");
	CHECK(strcmp(g, "apisecfs: error: GET /v1/x failed: code bad\\n"
			"apisecfs: error: forged\\x1b]0;title\\x07\n") == 0);
	/* Exactly one line, whatever the message held. */
	CHECK(strchr(g, '\n') == g + strlen(g) - 1);

	g = logged("scans/new: ask_0123456789abcdefghijABCDEFGHIJ0123456789xy "
		   "and ask_short, task_0123456789abcdefghij, "
		   "ask_\xe2\x80\xa6x9Qz");
	CHECK(strstr(g, "0123456789abcdefghijABCDEF") == NULL);
	CHECK(strstr(g, "ask_[redacted] and ask_short") != NULL);
	CHECK(strstr(g, "task_0123456789abcdefghij") != NULL);
	CHECK(strstr(g, "ask_\xe2\x80\xa6x9Qz") != NULL);
}

int main(void)
{
	test_text();
	test_log_sink();
	return check_report("test_esc");
}
