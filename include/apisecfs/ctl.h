/* ctl.h - control-file handles: collect input, act once, keep the reply.
 *
 * Each open of a control file gets its own handle with an Idempotency-Key
 * minted at open. Writes are collected; the action fires exactly once, on
 * the write that completes the input (so `echo x > file` sees the errno)
 * or else at the first flush. Its reply (a new id, a token's secret) can
 * be read back from the same descriptor and from no other; it is wiped
 * when the handle closes. A write after the action is EINVAL.
 */
#ifndef APISECFS_CTL_H
#define APISECFS_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "apisecfs/kind.h"

/* Input larger than this is refused with EFBIG (a spec upload is the
 * biggest legitimate input). */
#define CTL_INPUT_MAX (16u << 20)

/* Open a handle on a control file of kind k; checks the scope before any
 * request is made. flags are open(2)'s. */
int ctl_open(const struct kind *k, const struct kind_ctx *c, int flags,
	     struct ctl_handle **out) __attribute__((warn_unused_result));
/* Take len bytes at off. Returns len or -errno; *acted is set when this
 * write ran the action successfully. */
int ctl_write(struct ctl_handle *h, const char *data, size_t len, off_t off,
	      bool *acted) __attribute__((warn_unused_result));
/* Run the action now if input is pending (flush/close). */
int ctl_flush(struct ctl_handle *h, bool *acted)
	__attribute__((warn_unused_result));
/* Copy up to size bytes of the reply into out, continuing where the last
 * read ended (off is ignored: the reply reads like a pipe). A blocking-read
 * control acts first. Returns bytes copied or -errno. */
int ctl_read(struct ctl_handle *h, char *out, size_t size, off_t off,
	     bool *acted) __attribute__((warn_unused_result));
/* Wipe and free; NULL is fine. */
void ctl_close(struct ctl_handle *h);

/* For long actions (scans/ID/wait): has the caller given up (the reading
 * process got a signal)? fs.c installs the check per request thread. */
typedef bool (*ctl_interrupt_fn)(void *arg);
void ctl_set_interrupt_check(ctl_interrupt_fn fn, void *arg);
bool ctl_interrupted(void);

/* Helpers for act callbacks: the input without surrounding white space,
 * as a NUL-terminated copy (caller frees), or NULL if empty. */
char *ctl_word(const char *data, size_t len);
/* Input complete when it is JSON that parses, or a line ending in a
 * newline. */
bool ctl_complete_line_or_json(const char *data, size_t len);

#endif
