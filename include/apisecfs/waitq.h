/* waitq.h - reads that wait for the platform (scans/ID/wait), parked
 * without holding a thread.
 *
 * A read of a waiting control file parks its FUSE request here and the
 * worker thread goes back to serve others. One poller thread asks the
 * platform about each awaited object once per interval, however many
 * readers wait on it, and answers every parked request when it is done.
 * A reader that is interrupted (Ctrl-C, SIGTERM) is answered EINTR at
 * once, so it never sits in D state.
 */
#ifndef APISECFS_WAITQ_H
#define APISECFS_WAITQ_H

#include <stddef.h>

#include <fuse_lowlevel.h>

struct ctl_handle;

/* Called once an awaited object is done (its state changed: listings
 * that show it are stale). */
typedef void (*waitq_done_fn)(void);

int waitq_start(waitq_done_fn on_done) __attribute__((warn_unused_result));
/* Answer every parked request with EIO and stop the poller. */
void waitq_stop(void);
/* Park req, a read of up to size bytes of control handle h (ctl.h:
 * ctl_read said -EINPROGRESS). On success the request is answered later,
 * exactly once; on failure (-errno) the caller answers it. */
int waitq_park(fuse_req_t req, struct ctl_handle *h, size_t size)
	__attribute__((warn_unused_result));
/* How many requests are parked now (tests, .stats). */
size_t waitq_parked(void);

#endif
