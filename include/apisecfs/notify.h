/* notify.h - kernel cache invalidations, sent from a thread of their own.
 *
 * When data behind an inode or a directory entry changes (a listing found
 * it different, or the user's own action touched it), the kernel's page,
 * attribute and dentry caches must forget it. Sending the notification from
 * inside the FUSE operation that caused it can deadlock (fuse_lowlevel.h),
 * so callers only queue it here and one thread delivers.
 */
#ifndef APISECFS_NOTIFY_H
#define APISECFS_NOTIFY_H

#include <stdbool.h>

#include <fuse_lowlevel.h>

/* Start the delivery thread for the data mount's session se and the
 * control mount's ctl_se (NULL if none). Returns 0 or -1. */
int notify_start(struct fuse_session *se, struct fuse_session *ctl_se)
	__attribute__((warn_unused_result));
/* A unit test's stand-in for the kernel: with a sink set (before
 * notify_start, which may then get NULL sessions), the delivery thread
 * hands each invalidation to fn instead of libfuse, in order (name NULL:
 * inode ino, attr_only: its attributes alone; else the entry name in
 * directory ino), and drops notify_call's functions (they need a
 * session). The daemon sets none. */
typedef void (*notify_sink_fn)(fuse_ino_t ino, const char *name,
			       bool attr_only);
void notify_set_sink(notify_sink_fn fn);
/* Deliver what is queued, then stop the thread. */
void notify_stop(void);

/* Queue: forget ino's cached data and attributes. */
void notify_inval_inode(fuse_ino_t ino);
/* Queue: forget ino's attributes only. Its pages stay until a new size
 * or mtime shows they changed (FUSE_CAP_AUTO_INVAL_DATA): what an action
 * needs, since it changes few of the files it may have touched. */
void notify_inval_attr(fuse_ino_t ino);
/* Queue: forget the dentry name in directory parent. */
void notify_inval_entry(fuse_ino_t parent, const char *name);
/* Queue: call fn(the data mount's session, ino) on the delivery thread,
 * in order with the invalidations: what fn hands the kernel (a store of
 * pages) reaches it before any invalidation queued after fn was. */
typedef void (*notify_fn)(struct fuse_session *se, fuse_ino_t ino);
void notify_call(notify_fn fn, fuse_ino_t ino);
/* Wait until everything queued so far was delivered. Never from a data
 * mount operation: an entry invalidation takes the directory's lock,
 * which the kernel may hold for that very operation. */
void notify_wait(void);

#endif
