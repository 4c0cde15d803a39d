/* tree.h - what exists: names, listings, attributes and contents.
 *
 * The engine behind the FUSE operations. It keeps each directory's listing
 * fresh (TTL, revalidated through the API cache), reconciles it with the
 * inode table, tells the kernel about changes through notify, and decides
 * modes from the credential's scopes. All functions return 0 or -errno
 * and are safe to call from any FUSE thread.
 */
#ifndef APISECFS_TREE_H
#define APISECFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include <fuse_lowlevel.h>

#include "apisecfs/buf.h"

struct kind;
struct ctl_handle;
struct stream_reader;

struct tree_opts {
	double ttl_s;	    /* listing and content lifetime; kernel timeouts */
	size_t content_max; /* bytes of rendered files held (LRU) */
	uid_t uid;	    /* owner every node shows */
	gid_t gid;
	mode_t umask; /* cleared from every mode shown */
	/* The root directory's kind: the resources' (restab.h), given by
	 * main.c so that the engine names no resource. */
	const struct kind *root_kind;
};

int tree_init(const struct tree_opts *opts)
	__attribute__((warn_unused_result));
void tree_cleanup(void);

/* Two mounts show one tree. The data mount (the user's mountpoint) is
 * served without FUSE OPEN, so the kernel keeps its page cache and grep -r
 * costs no round trip a file; it shows every file whose bytes depend on
 * the open (control files, uploads, blocking reads) as a symlink into the
 * control mount, which keeps OPEN and per-open state. Without a control
 * mount (tree_set_ctl_root never called) every node shows as itself. */
enum tree_view { TREE_VIEW_DATA, TREE_VIEW_CTL, TREE_VIEW_EXPORT };
/* TREE_VIEW_EXPORT (apisecfs --export, export.h) is the data view with
 * every file as itself and without the control files: tree_opendir leaves
 * them out, tree_lookup answers ENOENT for them. */
/* The control mount's absolute path (copied). Returns 0 or -ENOMEM. */
int tree_set_ctl_root(const char *path) __attribute__((warn_unused_result));
/* The data mount's root entry that points at the control mount. */
#define TREE_CTL_NAME ".ctl"

/* Kernel timeout for entries and attributes (the TTL). */
double tree_timeout(void);

int tree_lookup(enum tree_view v, fuse_ino_t parent, const char *name,
		struct fuse_entry_param *e)
	__attribute__((warn_unused_result));
void tree_forget(fuse_ino_t ino, uint64_t nlookup);
int tree_getattr(enum tree_view v, fuse_ino_t ino, struct stat *st)
	__attribute__((warn_unused_result));
/* Symlink target; caller unrefs. */
int tree_readlink(enum tree_view v, fuse_ino_t ino, struct blob **target)
	__attribute__((warn_unused_result));

/* A directory's entries as they were at opendir, so that offsets stay
 * stable across readdir calls while the listing changes. */
struct tree_dirent {
	char *name;
	fuse_ino_t ino;
	mode_t mode;
};
struct tree_dir {
	struct tree_dirent *v; /* v, n: immutable after tree_opendir */
	size_t n;
	struct tree_dir *prev, *next; /* tree.c's open handles: */
	bool open;		      /* under its handles lock */
};
/* keep_cache: the kernel's cached entries of an earlier open are right. */
int tree_opendir(enum tree_view v, fuse_ino_t ino, struct tree_dir **out,
		 bool *keep_cache) __attribute__((warn_unused_result));
void tree_dir_free(struct tree_dir *d);
/* readdirplus: the entry for d->v[i] as a lookup would answer it, with
 * the kernel's lookup count taken (tree_forget(e->ino, 1) if it does not
 * go into the reply after all). Entries whose attributes
 * would cost a request (a file not rendered yet) come back with e->ino 0:
 * the kernel then looks them up when it needs them. */
void tree_dirplus(enum tree_view v, const struct tree_dir *d, size_t i,
		  struct fuse_entry_param *e);

/* An open file: regular content pinned at open, or a control handle.
 * The kernel may send one handle's reads from several threads at once:
 * every field is set at open, before the handle is shared, and not
 * changed after it (the reader and the control handle have their own
 * locks), but content (below) and the list links. */
struct tree_file {
	fuse_ino_t ino;
	const struct kind *kind;
	/* Regular files and symlinks: set at open, or, for a lazy open,
	 * once by the first read that renders it (tree_read, under
	 * node_lock, which orders two such reads). Published with a release
	 * store, read with tree_file_content's acquire load, so a read on
	 * another thread sees all of the blob or none; never replaced, and
	 * unreferenced only by tree_file_free, at RELEASE, which the kernel
	 * sends after the handle's last read has been answered. */
	struct blob *content;
	/* Live files (.stats): this open's bytes, which the handle alone
	 * holds, copied out by tree_read. A zero-copy reply from them could
	 * still be in writev when RELEASE frees them (ASan saw it). */
	struct blob *snapshot;
	struct ctl_handle *ctl;	      /* control files */
	struct stream_reader *reader; /* paged files */
	bool lazy; /* content rendered at the first read, if one comes */
	struct tree_file *prev, *next; /* tree.c's open handles: */
	bool open;		       /* under its handles lock */
};
/* f's content, or NULL (not rendered yet, or not a regular file). */
static inline struct blob *tree_file_content(const struct tree_file *f)
{
	return __atomic_load_n(&f->content, __ATOMIC_ACQUIRE);
}
/* keep_cache: the kernel's cached pages are still right. */
int tree_open(fuse_ino_t ino, int flags, pid_t opener, struct tree_file **out,
	      bool *keep_cache, bool *direct_io)
	__attribute__((warn_unused_result));
void tree_file_free(struct tree_file *f);

/* rm parent/name: the kind's remove action (revoke a token, ...). */
int tree_unlink(fuse_ino_t parent, const char *name)
	__attribute__((warn_unused_result));

/* Control files: collect input and act once (ctl.h). A successful
 * action expires every listing so its effect shows at once. Returns bytes
 * or -errno. */
int tree_write(struct tree_file *f, const char *data, size_t len, off_t off)
	__attribute__((warn_unused_result));
/* A close (FLUSH), or the release of the last descriptor. */
int tree_flush(struct tree_file *f, bool release)
	__attribute__((warn_unused_result));
/* Bytes at off: the pinned content, or a control file's reply. */
int tree_read(struct tree_file *f, char *out, size_t size, off_t off)
	__attribute__((warn_unused_result));
/* Up to size bytes at off of file ino, read without an open (the data
 * mount); evicted bytes are rendered again. Returns their count or -errno.
 * *out points at them: inside *held (a content blob, no copy; unref it
 * after the reply), or, when *held is NULL, at a buffer to free. */
int tree_read_ino(fuse_ino_t ino, size_t size, off_t off, struct blob **held,
		  char **out) __attribute__((warn_unused_result));
/* Drop the readers tree_read_ino keeps (tree_cleanup calls it). */
void tree_read_cleanup(void);
/* May ino be opened for writing (truncate is then accepted)? */
bool tree_is_writable(fuse_ino_t ino);

/* Something changed on the platform that listings show (a scan the
 * mount waited for ended): list again at the next access. */
void tree_expire_listings(void);
/* Forget every listing and content now, ours and the kernel's. */
void tree_refresh_all(void);

#endif
