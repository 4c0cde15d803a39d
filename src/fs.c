/* fs.c - the FUSE lowlevel operations: thin handlers over tree.c.
 *
 * Each fs_<op> unpacks the request, calls the tree, and replies exactly
 * once. Two tables serve the two mounts of one tree (tree.h): the data
 * mount answers OPEN with ENOSYS (FUSE_CAP_NO_OPEN_SUPPORT: the kernel
 * then sends no OPEN, FLUSH or RELEASE for files and keeps their pages),
 * lists with readdirplus, and reads by inode; the control mount opens,
 * writes, flushes and releases per handle. Which mount a request came
 * from is the session's userdata. No state lives here; handles are
 * struct tree_dir / tree_file in fi->fh. Errors are -errno from the tree,
 * passed to the kernel unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "apisecfs/ctl.h"
#include "apisecfs/fs.h"
#include "apisecfs/log.h"
#include "apisecfs/metrics.h"
#include "apisecfs/tree.h"
#include "apisecfs/waitq.h"

_Static_assert(sizeof(uint64_t) >= sizeof(void *),
	       "fi->fh must hold a pointer");

/* Every error reply goes through here, so .stats counts it by errno. */
static void reply_err(fuse_req_t req, int err)
{
	metrics_fuse_error(err);
	fuse_reply_err(req, err);
}

static const enum tree_view data_view = TREE_VIEW_DATA;
static const enum tree_view ctl_view = TREE_VIEW_CTL;

void *fs_userdata(bool ctl)
{
	return (void *)(ctl ? &ctl_view : &data_view);
}

static enum tree_view view_of(fuse_req_t req)
{
	const enum tree_view *v = fuse_req_userdata(req);
	return v ? *v : TREE_VIEW_CTL;
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	metrics_fuse_op(METRICS_OP_INIT);
	const enum tree_view *v = userdata;
	/* Parallel lookups and readdirs of one directory are safe here:
	 * the tree serializes what needs it. */
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* Our files never change through the page cache; let it serve
	 * repeated reads (keep_cache decides per open). */
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	conn->max_readahead = 1 << 20;
	if (v && *v == TREE_VIEW_DATA) {
		/* No OPEN a file: the page cache stays, and a change reaches
		 * it through attribute timeouts (a new size or mtime drops
		 * the pages: AUTO_INVAL_DATA) and notify_inval_inode. */
		if (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)
			conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
		if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
			conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
		/* Every listing with its attributes: grep -r reads the whole
		 * directory before its files, so READDIRPLUS_AUTO would
		 * still send a LOOKUP for nearly every file. */
		if (conn->capable & FUSE_CAP_READDIRPLUS)
			conn->want |= FUSE_CAP_READDIRPLUS;
		conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	} else {
		conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS |
					  FUSE_CAP_READDIRPLUS_AUTO);
	}
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	metrics_fuse_op(METRICS_OP_LOOKUP);
	struct fuse_entry_param e;
	int rc = tree_lookup(view_of(req), parent, name, &e);
	if (rc == -ENOENT) {
		/* Negative entry with a zero timeout: a name that appears
		 * later (a new scan) is seen at once. */
		memset(&e, 0, sizeof(e));
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc)
		reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	metrics_fuse_op(METRICS_OP_FORGET);
	tree_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	metrics_fuse_op(METRICS_OP_FORGET_MULTI);
	for (size_t i = 0; i < count; i++)
		tree_forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_GETATTR);
	struct stat st;
	(void)fi;
	int rc = tree_getattr(view_of(req), ino, &st);
	if (rc)
		reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, tree_timeout());
}

/* Only truncation is meaningful, and only on files opened to write (the
 * shell's "> file"): the new content arrives through write(). */
static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_SETATTR);
	struct stat st;
	(void)attr;
	(void)fi;
	int rc = tree_getattr(view_of(req), ino, &st);
	if (!rc && (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME |
			       FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
			       FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)))
		rc = -EPERM;
	if (!rc && (to_set & FUSE_SET_ATTR_SIZE) && !tree_is_writable(ino))
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EACCES;
	if (rc)
		reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, 0);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	metrics_fuse_op(METRICS_OP_READLINK);
	struct blob *target;
	int rc = tree_readlink(view_of(req), ino, &target);
	if (rc) {
		reply_err(req, -rc);
		return;
	}
	fuse_reply_readlink(req, target->data);
	blob_unref(target);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_OPENDIR);
	struct tree_dir *d;
	bool keep;
	int rc = tree_opendir(view_of(req), ino, &d, &keep);
	if (rc) {
		reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	/* The data mount: the kernel keeps the entries it read, so a warm
	 * grep -r lists a directory without a READDIRPLUS round trip. */
	fi->cache_readdir = view_of(req) == TREE_VIEW_DATA;
	fi->keep_cache = keep;
	if (fuse_reply_open(req, fi) == -ENOENT)
		tree_dir_free(d); /* interrupted: no releasedir will come */
}

/* READDIR and READDIRPLUS: the snapshot's entries from off, as many as
 * fit in size; plus: with their attributes (tree_dirplus). */
static void reply_dir(fuse_req_t req, size_t size, off_t off,
		      struct fuse_file_info *fi, bool plus)
{
	struct tree_dir *d = (struct tree_dir *)(uintptr_t)fi->fh;
	enum tree_view v = view_of(req);
	char *buf = malloc(size);
	size_t used = 0;
	if (!buf) {
		reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; off >= 0 && i < d->n; i++) {
		struct fuse_entry_param e = { .ino = 0 };
		size_t need;
		if (plus) {
			tree_dirplus(v, d, i, &e);
			need = fuse_add_direntry_plus(
				req, buf + used, size - used, d->v[i].name, &e,
				(off_t)(i + 1));
		} else {
			struct stat st = { .st_ino = d->v[i].ino,
					   .st_mode = d->v[i].mode };
			need = fuse_add_direntry(req, buf + used, size - used,
						 d->v[i].name, &st,
						 (off_t)(i + 1));
		}
		if (need > size - used) {
			if (e.ino)
				tree_forget(e.ino, 1); /* not sent after all */
			break;
		}
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_READDIR);
	(void)ino;
	reply_dir(req, size, off, fi, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_READDIRPLUS);
	(void)ino;
	reply_dir(req, size, off, fi, true);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_RELEASEDIR);
	(void)ino;
	tree_dir_free((struct tree_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_OPEN);
	struct tree_file *f;
	bool keep, direct;
	int rc = tree_open(ino, fi->flags, fuse_req_ctx(req)->pid, &f, &keep,
			   &direct);
	if (rc) {
		reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->keep_cache = keep;
	fi->direct_io = direct;
	/* Only control files act at close; for the rest a FLUSH per close
	 * would be a round trip for nothing (grep -r closes every file). */
	fi->noflush = !f->ctl;
	/* A stream (events) has no offsets: lseek is ESPIPE, so bash's
	 * read takes a byte at a time instead of reading ahead and
	 * seeking back over bytes a stream cannot give again. */
	fi->nonseekable = f->ctl && ctl_is_stream(f->ctl);
	if (fuse_reply_open(req, fi) == -ENOENT)
		tree_file_free(f);
}

/* The data mount: ENOSYS once, and the kernel sends no more OPEN (nor
 * FLUSH and RELEASE) on this connection, keeping the pages it cached
 * (libfuse answers so itself only when the capability was granted). */
static void fs_open_none(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_OPEN);
	(void)ino;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

static void fs_flush_none(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_FLUSH);
	(void)ino;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_READ);
	struct tree_file *f = (struct tree_file *)(uintptr_t)fi->fh;
	if (!f) {
		/* The data mount: no open, the inode is all there is. */
		struct blob *held;
		char *bytes;
		int rc = tree_read_ino(ino, size, off, &held, &bytes);
		if (rc < 0)
			reply_err(req, -rc);
		else
			fuse_reply_buf(req, bytes, (size_t)rc);
		if (held)
			blob_unref(held);
		else
			free(bytes);
		return;
	}
	const struct blob *content = tree_file_content(f);
	if (content) {
		/* Regular file: point into the pinned blob, no copy (it lives
		 * until RELEASE, which comes after this reply). */
		size_t len = content->len;
		size_t n =
			off < 0 || (size_t)off >= len ? 0 : len - (size_t)off;
		fuse_reply_buf(req, n ? content->data + off : NULL,
			       n < size ? n : size);
		return;
	}
	/* A stream (events) answers the read itself, now or later. */
	if (f->ctl &&
	    ctl_stream_read(f->ctl, req, size, (fi->flags & O_NONBLOCK) != 0))
		return;
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		reply_err(req, ENOMEM);
		return;
	}
	int rc = tree_read(f, buf, size, off);
	if (rc == -EINPROGRESS) {
		/* A read that waits (scans/ID/wait): parked, answered by
		 * the poller, no thread held meanwhile. */
		rc = waitq_park(req, f->ctl, size);
		if (rc == 0) {
			free(buf);
			return;
		}
	}
	if (rc < 0)
		reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, (size_t)rc);
	free(buf);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *data,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_WRITE);
	struct tree_file *f = (struct tree_file *)(uintptr_t)fi->fh;
	(void)ino;
	int rc = tree_write(f, data, size, off);
	if (rc < 0)
		reply_err(req, -rc);
	else
		fuse_reply_write(req, (size_t)rc);
}

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_FLUSH);
	struct tree_file *f = (struct tree_file *)(uintptr_t)fi->fh;
	(void)ino;
	reply_err(req, -tree_flush(f, false));
}

static void fs_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	metrics_fuse_op(METRICS_OP_RELEASE);
	struct tree_file *f = (struct tree_file *)(uintptr_t)fi->fh;
	(void)ino;
	/* Pending input acts at the last chance, but an error here reaches
	 * nobody (fuse_lowlevel.h): flush already reported it. */
	int rc = tree_flush(f, true);
	if (rc)
		log_debug("release: action failed: %s", strerror(-rc));
	tree_file_free(f);
	fuse_reply_err(req, 0);
}

/* poll(2) and select(2): a stream says when it has data; every other
 * file is always ready, as a regular file is. Answering ENOSYS instead
 * would make the kernel stop asking for any file of the mount. */
static void fs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct tree_file *f = (struct tree_file *)(uintptr_t)fi->fh;
	unsigned revents;
	(void)ino;
	if (f && f->ctl && ctl_stream_poll(f->ctl, ph, &revents)) {
		fuse_reply_poll(req, revents);
		return;
	}
	if (ph)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	metrics_fuse_op(METRICS_OP_UNLINK);
	reply_err(req, -tree_unlink(parent, name));
}

/* ---- names the platform owns ---------------------------------------
 *
 * Names come from the platform: nothing makes, renames, links or removes
 * one but rm of an entry whose kind deletes (tokens/X.json, app.json).
 * Tools get a message that says so, not ENOSYS ("Function not
 * implemented"): EPERM in a directory that shows a write bit (the
 * credential may delete there, so the mount is not read-only), EROFS in
 * every other directory. */
static int namespace_errno(fuse_req_t req, fuse_ino_t parent)
{
	struct stat st;
	if (tree_getattr(view_of(req), parent, &st))
		return ENOENT;
	return (st.st_mode & S_IWUSR) ? EPERM : EROFS;
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)name, (void)mode;
	reply_err(req, namespace_errno(req, parent));
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)name, (void)mode, (void)rdev;
	reply_err(req, namespace_errno(req, parent));
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	(void)name, (void)mode, (void)fi;
	reply_err(req, namespace_errno(req, parent));
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link, (void)name;
	reply_err(req, namespace_errno(req, parent));
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino, (void)newname;
	reply_err(req, namespace_errno(req, newparent));
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)name;
	reply_err(req, namespace_errno(req, parent));
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	(void)name, (void)newname, (void)flags;
	int a = namespace_errno(req, parent),
	    b = namespace_errno(req, newparent);
	reply_err(req, a == EROFS || b == EROFS ? EROFS : a);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	metrics_fuse_op(METRICS_OP_STATFS);
	struct statvfs sv = { .f_bsize = 4096,
			      .f_frsize = 4096,
			      .f_namemax = 255 };
	(void)ino;
	fuse_reply_statfs(req, &sv);
}

/* What both mounts answer alike: the tree's names and attributes, and the
 * refusals of what the tree does not do. */
#define FS_COMMON_OPS                                                      \
	.init = fs_init, .lookup = fs_lookup, .forget = fs_forget,         \
	.forget_multi = fs_forget_multi, .getattr = fs_getattr,            \
	.setattr = fs_setattr, .readlink = fs_readlink,                    \
	.opendir = fs_opendir, .readdir = fs_readdir,                      \
	.releasedir = fs_releasedir, .read = fs_read, .unlink = fs_unlink, \
	.mkdir = fs_mkdir, .mknod = fs_mknod, .create = fs_create,         \
	.symlink = fs_symlink, .link = fs_link, .rmdir = fs_rmdir,         \
	.rename = fs_rename, .statfs = fs_statfs

/* The user's mountpoint: no open, flush or release for files (ENOSYS,
 * and the kernel stops asking), readdirplus. */
const struct fuse_lowlevel_ops fs_data_ops = {
	FS_COMMON_OPS,
	.readdirplus = fs_readdirplus,
	.open = fs_open_none,
	.flush = fs_flush_none,
};

/* The control mount: every file opened, per-handle state. */
/* One member a line, as in fs_data_ops. */
/* clang-format off */
const struct fuse_lowlevel_ops fs_ctl_ops = {
	FS_COMMON_OPS,
	.open = fs_open,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.poll = fs_poll,
};
/* clang-format on */
