/* esc.c - escaping untrusted text for one-line output (see esc.h).
 *
 * One walker decides, unit by unit, whether bytes pass as they are or
 * become an escape; esc_text and esc_buf only differ in where the pieces
 * go. A leaf apart from buf.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "apisecfs/esc.h"

size_t esc_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;
	if (n == 0)
		return 0;
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool esc_has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* Where the pieces go: a fixed array or a buf. */
struct sink {
	char *out;
	size_t outsz, len;
	struct buf *b;
	bool full;
};

static void put(struct sink *k, const char *p, size_t n)
{
	if (k->full)
		return;
	if (k->b) {
		if (buf_append(k->b, p, n))
			k->full = true;
		return;
	}
	if (k->len + n >= k->outsz) {
		k->full = true; /* never half an escape or character */
		return;
	}
	memcpy(k->out + k->len, p, n);
	k->len += n;
}

static void put_byte_escape(struct sink *k, unsigned char c)
{
	char e[5];
	const char *named = c == '\n'	? "\\n"
			    : c == '\r' ? "\\r"
			    : c == '\t' ? "\\t"
			    : c == '\\' ? "\\\\"
					: NULL;
	if (named) {
		put(k, named, 2);
		return;
	}
	snprintf(e, sizeof(e), "\\x%02x", c);
	put(k, e, 4);
}

static void walk(struct sink *k, const char *str, size_t n, unsigned flags)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < n && !k->full) {
		/* The longest run that passes as it is. */
		size_t run = i;
		for (;;) {
			if (run >= n)
				break;
			unsigned char c = s[run];
			if (c < 0x20 || c == 0x7f ||
			    (c == '\\' && (flags & ESC_BACKSLASH)))
				break;
			size_t u = esc_utf8_len(s + run, n - run);
			/* U+0080..U+009F (C1 controls) are 0xc2 0x80..0x9f. */
			if (u == 0 ||
			    (u == 2 && c == 0xc2 && s[run + 1] < 0xa0))
				break;
			run += u;
		}
		if (run > i) {
			put(k, str + i, run - i);
			i = run;
			continue;
		}
		size_t u = esc_utf8_len(s + i, n - i);
		size_t bad = u ? u : 1; /* a C1 character, or one bad byte */
		for (size_t j = 0; j < bad; j++)
			put_byte_escape(k, s[i + j]);
		i += bad;
	}
}

size_t esc_text(char *out, size_t outsz, const char *s, size_t n,
		unsigned flags)
{
	struct sink k = { .out = out, .outsz = outsz };
	walk(&k, s, n, flags);
	out[k.len] = '\0';
	return k.len;
}

int esc_buf(struct buf *b, const char *s, size_t n, unsigned flags)
{
	struct sink k = { .b = b };
	walk(&k, s, n, flags);
	return k.full ? -1 : 0;
}
