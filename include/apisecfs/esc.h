/* esc.h - untrusted text made safe to print on one line of a terminal, a
 * log or a line-oriented file.
 *
 * Control characters (C0, DEL, and the C1 range U+0080..U+009F, which some
 * terminals obey) and bytes that are not valid UTF-8 are written as
 * escapes: "\n", "\r", "\t", and "\xNN" for every other byte (a C1
 * character's two bytes give two). Valid UTF-8 is kept as it is, so names
 * in any language stay readable. With ESC_BACKSLASH a backslash becomes
 * "\\" too, which makes the escaping reversible (what a file the user
 * parses needs); logs leave it alone, since a lone backslash cannot forge
 * a line. A leaf: pure functions over buf.
 */
#ifndef APISECFS_ESC_H
#define APISECFS_ESC_H

#include <stdbool.h>
#include <stddef.h>

#include "apisecfs/buf.h"

/* Also escape '\' as "\\". */
#define ESC_BACKSLASH 1u

/* Length of the valid UTF-8 sequence at s (1..4, at most n bytes), or 0
 * if it is not valid (overlong forms and surrogates included). */
size_t esc_utf8_len(const unsigned char *s, size_t n);

/* True if the n bytes at s hold a control character (< 0x20 or 0x7f). */
bool esc_has_ctl(const char *s, size_t n);

/* Escape n bytes of s into out (outsz > 0, always NUL-terminated). An
 * escape is never cut in half: what does not fit is dropped whole.
 * Returns the length written. */
size_t esc_text(char *out, size_t outsz, const char *s, size_t n,
		unsigned flags);

/* Append the escaped form of n bytes of s to b. Returns 0, or -1 (b then
 * holds a prefix) when the cap or memory runs out. */
int esc_buf(struct buf *b, const char *s, size_t n, unsigned flags)
	__attribute__((warn_unused_result));

#endif
