/* ctlinput.h - reading what a control file was given, for the kinds' act
 * and complete callbacks (res_*.c).
 *
 * Pure functions of the input bytes: no handle, no state. Kept apart from
 * ctl.c so that the resource modules, which ctl.c calls, need nothing of
 * ctl.c.
 */
#ifndef APISECFS_CTLINPUT_H
#define APISECFS_CTLINPUT_H

#include <stdbool.h>
#include <stddef.h>

/* The input without surrounding white space, as a NUL-terminated copy
 * (caller frees), or NULL if empty (or memory is short). */
char *ctlinput_word(const char *data, size_t len);
/* Input complete when it is JSON that parses, or a line ending in a
 * newline. */
bool ctlinput_line_or_json(const char *data, size_t len);
/* Input complete once there is any (what it says does not matter:
 * scans/ID/cancel, .refresh). */
bool ctlinput_any(const char *data, size_t len);

#endif
