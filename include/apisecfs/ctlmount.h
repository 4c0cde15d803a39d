/* ctlmount.h - the control mount: a second, small FUSE mount of the same
 * tree, kept with OPEN for the files whose bytes or effects belong to one
 * open (control files, uploads, blocking reads). The data mount shows
 * them as links into it (tree.h). It lives in a private directory of its
 * own, not inside the data mount, so that umount of the data mount is
 * never refused as busy: /run/apisecfs/ctl.XXXXXX for root,
 * $XDG_RUNTIME_DIR/apisecfs/ (or /tmp/apisecfs-UID/) for other users.
 */
#ifndef APISECFS_CTLMOUNT_H
#define APISECFS_CTLMOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include <fuse_lowlevel.h>

struct ctlmount;

/* Make the directory, create the session and mount it (before the
 * daemon forks, so a failure reaches the terminal). allow names the
 * data mount's allow_other / allow_root option, or is NULL. Returns 0,
 * or -1 with a one-line reason in err. */
int ctlmount_create(const char *allow, struct ctlmount **out, char *err,
		    size_t errsz) __attribute__((warn_unused_result));
struct fuse_session *ctlmount_session(const struct ctlmount *cm);
const char *ctlmount_path(const struct ctlmount *cm);
/* Serve it from a thread of its own (after the fork). 0 or -1. */
int ctlmount_start(struct ctlmount *cm) __attribute__((warn_unused_result));
/* Stop serving, unmount, remove the directory, free. NULL is fine. */
void ctlmount_destroy(struct ctlmount *cm);

#endif
