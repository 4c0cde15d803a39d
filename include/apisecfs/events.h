/* events.h - the `events` live feed: readers, their queues, parked reads.
 *
 * Each open of `events` is a reader whose stream starts at that moment.
 * One poller thread asks the platform what changed (evfeed.h) every poll
 * interval, only while at least one reader is open, and appends each new
 * line to every reader's queue. A read returns whole lines when there are
 * some; otherwise it is parked (no FUSE thread held) and answered when
 * lines arrive, or with EINTR when the reader is interrupted (Ctrl-C).
 * poll(2) and select(2) report readability. A queue holds at most
 * queue_max lines; beyond that lines are dropped and the reader gets one
 * {"type":"overflow","lost":N} line in their place.
 */
#ifndef APISECFS_EVENTS_H
#define APISECFS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include <fuse_lowlevel.h>

/* Default lines a reader's queue holds before it overflows. */
#define EVENTS_QUEUE_DEFAULT 10000
/* Default seconds between polls. */
#define EVENTS_POLL_DEFAULT 10

struct events_opts {
	unsigned poll_s;  /* 0: no feed (events does not exist) */
	size_t queue_max; /* lines a reader may have unread */
};

/* Set the options (before the mounts serve). */
void events_init(const struct events_opts *o);
/* Is there a feed (poll_s > 0)? */
bool events_enabled(void);
/* Start the poller thread (after daemonizing). 0 or -1. */
int events_start(void) __attribute__((warn_unused_result));
/* Answer every parked read with EIO, stop and join the poller. */
void events_stop(void);

/* Readers are opaque (void *: ctl.h keeps them as a stream's state). */
/* A new reader: -EACCES when the credential may read neither scans nor
 * findings, -ENOENT when the feed is off, -ENOMEM. */
int events_open(void **out) __attribute__((warn_unused_result));
/* Unregister and free; a read still parked on it is answered EBADF.
 * NULL is fine. */
void events_close(void *reader);
/* Answer req, a read of up to size bytes, now (lines queued; EAGAIN when
 * nonblock) or later, exactly once. */
void events_read(void *reader, fuse_req_t req, size_t size, bool nonblock);
/* poll(2): the ready mask now (POLLIN when lines are queued); ph, if not
 * NULL, is notified (and destroyed) when lines arrive. */
unsigned events_poll(void *reader, struct fuse_pollhandle *ph);

/* Readers open now (tests, .stats). */
size_t events_readers(void);

#endif
