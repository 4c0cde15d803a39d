/* ctl.h - control-file handles: collect input, act once, keep the reply.
 *
 * Each open of a control file gets its own handle with an Idempotency-Key
 * minted at open. Writes are collected; the action fires exactly once, on
 * the whole input: at the write that completes it (so `echo x > file`
 * sees the errno), else at the close that leaves the opener without a
 * descriptor of it (a child that inherited one exiting, or a closed dup,
 * does not end the input), else at the release of the last descriptor.
 * Its reply (a new id, a token's secret)
 * can be read back from the same descriptor and from no other; it is
 * wiped when the handle closes. A write after the action is EINVAL; after
 * any refused write (EINVAL, EFBIG, a NUL byte) nothing is ever sent.
 */
#ifndef APISECFS_CTL_H
#define APISECFS_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "apisecfs/kind.h"

/* Input larger than this is refused with EFBIG (a spec upload is the
 * biggest legitimate input). */
#define CTL_INPUT_MAX (16u << 20)

/* Open a handle on a control file of kind k; checks the scope before any
 * request is made. flags are open(2)'s. */
/* opener: the process that opens; path: where it sees the file. */
int ctl_open(const struct kind *k, const struct kind_ctx *c, int flags,
	     pid_t opener, const char *path, struct ctl_handle **out)
	__attribute__((warn_unused_result));
/* Take len bytes at off. Returns len or -errno; *acted is set when this
 * write ran the action successfully. */
int ctl_write(struct ctl_handle *h, const char *data, size_t len, off_t off,
	      bool *acted) __attribute__((warn_unused_result));
/* A close of a descriptor (FLUSH), or the release of the last one: run
 * the action now if input is pending and this close ends it. */
int ctl_flush(struct ctl_handle *h, bool release, bool *acted)
	__attribute__((warn_unused_result));
/* Copy up to size bytes of the reply into out, continuing where the last
 * read ended (off is ignored: the reply reads like a pipe). A blocking-read
 * control with a poll says -EINPROGRESS until its outcome is known (one
 * without acts first). Returns bytes copied or -errno. */
int ctl_read(struct ctl_handle *h, char *out, size_t size, off_t off,
	     bool *acted) __attribute__((warn_unused_result));
/* Wipe and free; NULL is fine. */
void ctl_close(struct ctl_handle *h);

/* Reads that wait: ctl_read answers -EINPROGRESS until the outcome is
 * known, and the caller parks the read (waitq.h). */
const struct kind *ctl_kind(const struct ctl_handle *h);
const char *ctl_id(const struct ctl_handle *h);
/* Record the outcome of the wait (rc 0 with its reply, or -errno); the
 * first outcome stays. */
void ctl_finish(struct ctl_handle *h, int rc, const struct buf *reply);

/* Streams (events, ctl_ops stream_*): state made at open, freed by
 * ctl_close; reads and poll(2) answered by the kind. Is h one? */
bool ctl_is_stream(const struct ctl_handle *h);
/* If h is a stream, hand it the read (it answers req, now or later,
 * exactly once) and return true; false: not a stream, req untouched. */
bool ctl_stream_read(struct ctl_handle *h, fuse_req_t req, size_t size,
		     bool nonblock);
/* If h is a stream, its poll mask into *revents (ph is its to keep) and
 * true; false: not a stream. */
bool ctl_stream_poll(struct ctl_handle *h, struct fuse_pollhandle *ph,
		     unsigned *revents);

#endif
