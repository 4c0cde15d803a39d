/* tree.c - the FUSE-facing operations on the tree: lookup, attributes,
 * directories, opening, reading and writing files, removal.
 *
 * Freshness (listings, contents, TTLs, expiry) is sync.c's; the nodes are
 * node.c's and are touched only under node_lock. Calls sync, node, auth
 * for scopes, linktab for the links of the views and ctl for control-file
 * handles.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/auth.h"
#include "apisecfs/clock.h"
#include "apisecfs/ctl.h"
#include "apisecfs/kind.h"
#include "apisecfs/linktab.h"
#include "apisecfs/log.h"
#include "apisecfs/node.h"
#include "apisecfs/notify.h"
#include "apisecfs/stream.h"
#include "apisecfs/sync.h"
#include "apisecfs/tree.h"

static struct tree_opts topts; /* set once before threads start */

/* The control mount's absolute path, or NULL: then no node is shown as a
 * link into it. Set once before the mounts serve. */
static char *ctl_root;

/* The data mount's .ctl link: a fixed inode number clear of real nodes
 * (they count up from 2) and of linktab's (top bit, or bit 62 with a
 * 32-bit hash). */
#define TREE_CTL_INO ((fuse_ino_t)1 << 61)

int tree_init(const struct tree_opts *opts)
{
	topts = *opts;
	sync_init(opts->ttl_s);
	auth_on_scopes_changed(sync_scopes_changed);
	if (node_init(opts->root_kind, opts->content_max, sync_more_free))
		return -1;
	node_set_owner(opts->uid, opts->gid, opts->umask);
	return 0;
}

int tree_set_ctl_root(const char *path)
{
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	free(ctl_root);
	ctl_root = p;
	return 0;
}

/* Shown in the data view as a link into the control mount: files whose
 * bytes or effects belong to one open (writes that act at close, replies
 * read back from the same descriptor, reads that block, bytes made afresh
 * at each open: .stats). */
static bool via_ctl(enum tree_view v, const struct node *n)
{
	return v == TREE_VIEW_DATA && ctl_root &&
	       (n->kind->type == KIND_CTL || n->kind->ctl || n->kind->live);
}

/* Left out of an export: files that act or whose bytes belong to one
 * open, not to the platform's data. Files that also have a plain read
 * (spec.json uploads) are exported with their bytes. */
static bool not_exported(enum tree_view v, const struct node *n)
{
	return v == TREE_VIEW_EXPORT &&
	       (n->kind->type == KIND_CTL || n->kind->hidden || n->kind->live);
}

/* Lock held: n's link target in the data view, "../" up to the root, then
 * .ctl/ and n's path: relative, so it reads the same in every mount. */
static struct blob *ctl_target_locked(const struct node *n)
{
	const char *names[32];
	size_t depth = 0;
	for (const struct node *p = n; p && p->parent;
	     p = node_find_locked(p->parent)) {
		if (depth == sizeof(names) / sizeof(names[0]))
			return NULL;
		names[depth++] = p->name;
	}
	char t[PATH_MAX];
	size_t len = 0;
	for (size_t i = 1; i < depth && len + 3 < sizeof(t); i++, len += 3)
		memcpy(t + len, "../", 3);
	int w = snprintf(t + len, sizeof(t) - len, "%s", TREE_CTL_NAME);
	for (size_t i = depth;
	     w >= 0 && (size_t)w < sizeof(t) - len && i-- > 0;) {
		len += (size_t)w;
		w = snprintf(t + len, sizeof(t) - len, "/%s", names[i]);
	}
	if (w < 0 || (size_t)w >= sizeof(t) - len)
		return NULL;
	return blob_new(t, len + (size_t)w);
}

/* Lock held: n's absolute path in the control mount, into out. */
static bool ctl_path_locked(const struct node *n, char *out, size_t outsz)
{
	struct blob *t = ctl_root ? ctl_target_locked(n) : NULL;
	const char *rel = t ? strstr(t->data, TREE_CTL_NAME "/") : NULL;
	int w = rel ? snprintf(out, outsz, "%s%s", ctl_root,
			       rel + sizeof(TREE_CTL_NAME) - 1)
		    : -1;
	blob_unref(t);
	return w > 0 && (size_t)w < outsz;
}

/* Lock held: n's attributes as view v shows them. */
static void stat_view_locked(enum tree_view v, const struct node *n,
			     struct stat *st)
{
	node_stat_locked(n, st);
	if (via_ctl(v, n)) {
		struct blob *t = ctl_target_locked(n);
		st->st_mode = S_IFLNK | 0777;
		st->st_size = t ? (off_t)t->len : 0;
		st->st_blocks = 0;
		blob_unref(t);
	}
}

static void ctl_link_stat(struct stat *st)
{
	uid_t uid;
	gid_t gid;
	node_owner(&uid, &gid);
	memset(st, 0, sizeof(*st));
	st->st_ino = TREE_CTL_INO;
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_uid = uid;
	st->st_gid = gid;
	st->st_size = (off_t)strlen(ctl_root);
}

/* Handles given to the kernel and not released yet. At unmount the
 * RELEASE and RELEASEDIR requests still queued are never processed, so
 * tree_cleanup frees what is left (valgrind saw the leak). lock protects
 * both lists and each handle's prev, next and open; a leaf. */
static struct {
	pthread_mutex_t lock;
	struct tree_dir *dirs;
	struct tree_file *files;
} handles = { .lock = PTHREAD_MUTEX_INITIALIZER };

#define HANDLE_LINK(head, h)                         \
	do {                                         \
		pthread_mutex_lock(&handles.lock);   \
		(h)->prev = NULL;                    \
		(h)->next = (head);                  \
		if (head)                            \
			(head)->prev = (h);          \
		(head) = (h);                        \
		(h)->open = true;                    \
		pthread_mutex_unlock(&handles.lock); \
	} while (0)
#define HANDLE_UNLINK(head, h)                               \
	do {                                                 \
		pthread_mutex_lock(&handles.lock);           \
		if ((h)->open) {                             \
			if ((h)->prev)                       \
				(h)->prev->next = (h)->next; \
			else                                 \
				(head) = (h)->next;          \
			if ((h)->next)                       \
				(h)->next->prev = (h)->prev; \
			(h)->open = false;                   \
		}                                            \
		pthread_mutex_unlock(&handles.lock);         \
	} while (0)

void tree_cleanup(void)
{
	while (handles.dirs)
		tree_dir_free(handles.dirs);
	while (handles.files)
		tree_file_free(handles.files);
	tree_read_cleanup();
	node_cleanup();
	free(ctl_root);
	ctl_root = NULL;
}

double tree_timeout(void)
{
	return topts.ttl_s;
}

/* ---- operations --------------------------------------------------- */

/* The inode for link le of dir's link table, made now (lock held); NULL
 * if memory is short. */
static struct node *link_node_locked(struct node *dir,
				     const struct linkent *le)
{
	struct node *c =
		node_add_child_locked(dir, le->name, node_links(dir)->kind,
				      NULL, NULL, S_IFLNK | 0777);
	struct blob *target = c ? linktab_target(node_links(dir), le) : NULL;
	if (c && !target) {
		node_unlink_locked(c);
		return NULL;
	}
	if (c) {
		node_set_content_locked(c, target);
		c->mtime = le->mtime;
		c->mark = true;
	}
	return c;
}

/* readdir's inode number for link le of dir: the one a lookup answers,
 * or for the rare links that get a real inode, a hash clear of them. */
static int by_ino(const void *a, const void *b)
{
	fuse_ino_t x = ((const struct tree_dirent *)a)->ino,
		   y = ((const struct tree_dirent *)b)->ino;
	return (x > y) - (x < y);
}

static fuse_ino_t link_ino(const struct node *dir, const struct linkent *le)
{
	fuse_ino_t ino = linktab_ino(le, dir->ino);
	return ino ? ino : (fuse_ino_t)((uint64_t)le->hash | 1ULL << 62);
}

/* Lock held: attributes of link le of dir, as inode ino. */
static void link_stat_locked(const struct node *dir, const struct linkent *le,
			     fuse_ino_t ino, struct stat *st)
{
	uid_t uid;
	gid_t gid;
	node_owner(&uid, &gid);
	linktab_stat(node_links(dir), le, ino, uid, gid, st);
}

/* Lock held: the entry for link le of dir, answered without an inode if
 * it can be; false if it needs one. */
static bool link_entry_locked(struct node *dir, const struct linkent *le,
			      struct fuse_entry_param *e)
{
	fuse_ino_t ino = linktab_ino(le, dir->ino);
	if (!ino)
		return false;
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 1;
	link_stat_locked(dir, le, ino, &e->attr);
	e->attr_timeout = topts.ttl_s;
	e->entry_timeout = topts.ttl_s;
	return true;
}

/* The link an inode-less link number names, in its directory's current
 * table: stat it (st) or copy its target (target). */
static int link_by_ino(fuse_ino_t ino, struct stat *st, struct blob **target)
{
	struct node *dir = node_get(linktab_dir_of(ino));
	int rc = -ENOENT;
	if (!dir)
		return rc;
	/* Some targets move (apps/NAME/latest): readlink answers from a
	 * fresh listing, as a file's read does; on failure, what we have. */
	if (target && sync_listed(dir))
		log_debug("readlink: listing not refreshed");
	node_lock();
	const struct linkent *le = linktab_by_ino(node_links(dir), ino);
	if (le && st) {
		link_stat_locked(dir, le, ino, st);
		rc = 0;
	} else if (le) {
		*target = linktab_target(node_links(dir), le);
		rc = *target ? 0 : -ENOMEM;
	}
	node_unlock();
	node_put(dir);
	return rc;
}

static void entry_of_locked(enum tree_view v, struct node *n,
			    struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	stat_view_locked(v, n, &e->attr);
	n->stale_attrs = false;
	e->attr_timeout = n->kind->live ? 0 : topts.ttl_s;
	e->entry_timeout = topts.ttl_s;
}

int tree_lookup(enum tree_view v, fuse_ino_t parent, const char *name,
		struct fuse_entry_param *e)
{
	if (parent == FUSE_ROOT_ID && v == TREE_VIEW_DATA && ctl_root &&
	    strcmp(name, TREE_CTL_NAME) == 0) {
		memset(e, 0, sizeof(*e));
		e->ino = TREE_CTL_INO;
		e->generation = 1;
		ctl_link_stat(&e->attr);
		e->attr_timeout = e->entry_timeout = 3600;
		return 0;
	}
	struct node *dir = node_get(parent);
	int rc;
	if (!dir)
		return -ENOENT;
	if (dir->kind->type != KIND_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!sync_may_read(dir->kind)) {
		rc = -EACCES;
		goto out;
	}
	if ((rc = sync_listed(dir)))
		goto out;
	node_lock();
	struct node *c = node_child_locked(dir, name);
	const struct linkent *le =
		c ? NULL : linktab_find(node_links(dir), name);
	if (le && link_entry_locked(dir, le, e)) {
		node_unlock();
		goto out; /* rc is 0 */
	}
	if (le)
		c = link_node_locked(dir, le);
	if (c && not_exported(v, c))
		c = NULL;
	if (c)
		node_pin_locked(c);
	node_unlock();
	if (!c) {
		rc = -ENOENT;
		goto out;
	}
	/* The size is part of the entry: render lazy files now, unless the
	 * scope says the read would be refused anyway, or the data view
	 * shows the file as a link. */
	if ((c->kind->render || c->kind->stream_paths) &&
	    sync_may_read(c->kind) && !via_ctl(v, c))
		rc = sync_content(c);
	if (!rc) {
		node_lock();
		entry_of_locked(v, c, e);
		node_lookup_locked(c);
		node_unlock();
	}
	node_put(c);
out:
	node_put(dir);
	return rc;
}

void tree_forget(fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(ino, nlookup);
}

int tree_getattr(enum tree_view v, fuse_ino_t ino, struct stat *st)
{
	if (ino == TREE_CTL_INO && ctl_root) {
		ctl_link_stat(st);
		return 0;
	}
	if (linktab_is_ino(ino))
		return link_by_ino(ino, st, NULL);
	struct node *n = node_get(ino);
	if (!n)
		return -ENOENT;
	if (n->kind->type != KIND_DIR && sync_may_read(n->kind) &&
	    !via_ctl(v, n))
		sync_fresh(n, false); /* on failure: what we have */
	node_lock();
	n->mode = sync_mode(n->kind);
	stat_view_locked(v, n, st);
	n->stale_attrs = false;
	node_unlock();
	node_put(n);
	return 0;
}

int tree_readlink(enum tree_view v, fuse_ino_t ino, struct blob **target)
{
	if (ino == TREE_CTL_INO && ctl_root) {
		*target = blob_new(ctl_root, strlen(ctl_root));
		return *target ? 0 : -ENOMEM;
	}
	if (linktab_is_ino(ino))
		return link_by_ino(ino, NULL, target);
	struct node *n = node_get(ino);
	if (!n)
		return -ENOENT;
	int rc = -EINVAL;
	node_lock();
	if (via_ctl(v, n)) {
		*target = ctl_target_locked(n);
		rc = *target ? 0 : -ENOMEM;
	} else if (S_ISLNK(n->mode) && n->content) {
		*target = blob_ref(n->content);
		rc = 0;
	}
	node_unlock();
	node_put(n);
	return rc;
}

int tree_opendir(enum tree_view v, fuse_ino_t ino, struct tree_dir **out,
		 bool *keep_cache)
{
	struct node *dir = node_get(ino);
	struct tree_dir *d = NULL;
	int rc;
	if (!dir)
		return -ENOENT;
	if (!sync_may_read(dir->kind)) {
		rc = -EACCES;
		goto out;
	}
	if ((rc = sync_listed(dir)))
		goto out;
	rc = -ENOMEM;
	node_lock();
	/* The kernel may keep the entries it read at an earlier open while
	 * the listing behind them is the same one (the data mount only). */
	struct node_more *dm = dir->more;
	*keep_cache = v == TREE_VIEW_DATA && dm && dm->kernel_listed &&
		      dm->kernel_sig == dm->list_sig;
	if (dm && v == TREE_VIEW_DATA) {
		dm->kernel_listed = true;
		dm->kernel_sig = dm->list_sig;
	}
	const struct linktab *links = node_links(dir);
	size_t n = node_child_count_locked(dir) + (links ? links->n : 0);
	d = calloc(1, sizeof(*d));
	if (d)
		d->v = calloc(n + 2, sizeof(*d->v));
	if (d && d->v) {
		struct node *c;
		d->v[d->n++] =
			(struct tree_dirent){ strdup("."), dir->ino, S_IFDIR };
		d->v[d->n++] = (struct tree_dirent){ strdup(".."),
						     dir->parent ? dir->parent
								 : dir->ino,
						     S_IFDIR };
		for (size_t pos = 0; (c = node_next_child_locked(dir, &pos));
		     pos++) {
			if (c->kind->hidden || not_exported(v, c))
				continue;
			d->v[d->n++] = (struct tree_dirent){
				strdup(c->name), c->ino,
				via_ctl(v, c) ? S_IFLNK | 0777 : c->mode
			};
		}
		/* The API's order (inode numbers follow the first listing):
		 * grep -r then reads the files page by page, and a small
		 * cache renders each page once, not once a file. */
		qsort(d->v + 2, d->n - 2, sizeof(*d->v), by_ino);
		for (size_t i = 0; links && i < links->n; i++) {
			const struct linkent *le = &links->v[i];
			if (node_child_locked(dir, le->name))
				continue; /* made an inode: listed above */
			d->v[d->n++] = (struct tree_dirent){ strdup(le->name),
							     link_ino(dir, le),
							     S_IFLNK | 0777 };
		}
		rc = 0;
		for (size_t i = 0; i < d->n; i++)
			if (!d->v[i].name)
				rc = -ENOMEM;
	}
	node_unlock();
	if (rc) {
		tree_dir_free(d);
		d = NULL;
	}
	if (d)
		HANDLE_LINK(handles.dirs, d);
out:
	node_put(dir);
	*out = d;
	return rc;
}

void tree_dirplus(enum tree_view v, const struct tree_dir *d, size_t i,
		  struct fuse_entry_param *e)
{
	const struct tree_dirent *de = &d->v[i];
	memset(e, 0, sizeof(*e));
	e->attr.st_ino = de->ino;
	e->attr.st_mode = de->mode;
	if (i < 2) /* . and ..: the kernel takes no count for them */
		return;
	if (linktab_is_ino(de->ino)) {
		if (link_by_ino(de->ino, &e->attr, NULL) == 0) {
			e->ino = de->ino;
			e->generation = 1;
			e->attr_timeout = e->entry_timeout = topts.ttl_s;
		}
		return;
	}
	struct node *c = node_get(de->ino);
	if (!c)
		return;
	node_lock();
	/* A file rendered on demand has no size until it is rendered: leave
	 * it to a lookup, which renders it only if something asks. */
	bool sized =
		!(c->kind->render || c->kind->stream_paths) || via_ctl(v, c) ||
		((c->content || node_stream(c)) && clock_ms() < c->expires_ms);
	if (c->linked && sized && sync_may_read(c->kind)) {
		entry_of_locked(v, c, e);
		node_lookup_locked(c);
	}
	node_unlock();
	node_put(c);
}

void tree_dir_free(struct tree_dir *d)
{
	if (!d)
		return;
	HANDLE_UNLINK(handles.dirs, d);
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	free(d);
}

int tree_open(fuse_ino_t ino, int flags, pid_t opener, struct tree_file **out,
	      bool *keep_cache, bool *direct_io)
{
	struct node *n = node_get(ino);
	struct tree_file *f = NULL;
	int rc = 0;
	int acc = flags & O_ACCMODE;
	*keep_cache = *direct_io = false;
	*out = NULL;
	if (!n)
		return -ENOENT;
	if (n->kind->type == KIND_DIR) {
		rc = -EISDIR;
		goto out;
	}
	if (n->kind->type == KIND_CTL || (n->kind->ctl && acc != O_RDONLY)) {
		struct kind_ctx c;
		node_lock();
		sync_ctx_of(n, &c);
		node_unlock();
		f = calloc(1, sizeof(*f));
		char path[PATH_MAX];
		node_lock();
		bool named = ctl_path_locked(n, path, sizeof(path));
		node_unlock();
		rc = !f ? -ENOMEM
			: ctl_open(n->kind, &c, flags, opener,
				   named ? path : NULL, &f->ctl);
		blob_unref(c.obj);
		*direct_io = true; /* sizes and replies are per handle */
		goto out;
	}
	if (!sync_may_read(n->kind)) {
		rc = -EACCES;
		goto out;
	}
	if (acc != O_RDONLY) {
		rc = -EACCES;
		goto out;
	}
	/* Bytes evicted from our memory but unchanged since the kernel last
	 * took them are still in its page cache: open without them and
	 * render them only if a read does come. */
	if ((rc = sync_fresh(n, false)))
		goto out;
	node_lock();
	bool need = !n->content && !node_stream(n) &&
		    !(n->src && n->opened_before);
	node_unlock();
	if (need && (rc = sync_fresh(n, true)))
		goto out;
	f = calloc(1, sizeof(*f));
	if (!f) {
		rc = -ENOMEM;
		goto out;
	}
	node_lock();
	bool paged = node_stream(n) != NULL;
	if (paged)
		f->reader = stream_reader_new(node_stream(n));
	else if (n->kind->live)
		f->snapshot = blob_ref(n->content);
	else
		f->content = blob_ref(n->content);
	node_touch_locked(n);
	f->lazy = !f->content && !f->reader && n->src;
	*keep_cache = n->opened_before && !n->kind->live;
	/* The kernel may still believe an old size (its attributes are
	 * being invalidated from another thread): read around it. */
	*direct_io = n->stale_attrs || n->kind->live;
	n->opened_before = true;
	node_unlock();
	if (!f->content && !f->reader && !f->lazy && !f->snapshot)
		rc = paged ? -ENOMEM : -EIO;
out:
	if (f) {
		f->ino = ino;
		f->kind = n->kind;
	}
	if (rc) {
		tree_file_free(f);
		f = NULL;
	}
	if (f)
		HANDLE_LINK(handles.files, f);
	node_put(n);
	*out = f;
	return rc;
}

void tree_file_free(struct tree_file *f)
{
	if (!f)
		return;
	HANDLE_UNLINK(handles.files, f);
	blob_unref(f->content);
	blob_unref(f->snapshot);
	stream_reader_free(f->reader);
	ctl_close(f->ctl);
	free(f);
}

int tree_unlink(fuse_ino_t parent, const char *name)
{
	struct node *dir = node_get(parent);
	struct node *c = NULL;
	int rc;
	if (!dir)
		return -ENOENT;
	node_lock();
	c = node_child_locked(dir, name);
	if (c)
		node_pin_locked(c);
	bool link = !c && linktab_find(node_links(dir), name);
	node_unlock();
	if (!c) {
		rc = link ? -EPERM : -ENOENT;
	} else if (!c->kind->remove) {
		rc = -EPERM;
	} else if (c->kind->remove_scope &&
		   !auth_has_scope(c->kind->remove_scope)) {
		log_info("rm %s: the credential lacks %s", name,
			 c->kind->remove_scope);
		rc = -EACCES;
	} else {
		struct kind_ctx kc;
		node_lock();
		sync_ctx_of(c, &kc);
		node_unlock();
		rc = c->kind->remove(&kc);
		blob_unref(kc.obj);
		if (rc == 0) {
			node_lock();
			node_unlink_locked(c);
			node_unlock();
			sync_expire_all(false);
		}
	}
	node_put(c);
	node_put(dir);
	return rc;
}

void tree_expire_listings(void)
{
	sync_expire_all(false);
	notify_wait();
}

void tree_refresh_all(void)
{
	log_info("refresh: every listing and file will be fetched again");
	sync_expire_all(true);
}

/* After the user's own action, everything it may have touched is
 * revalidated on next access (cheap: ETags), so the change shows at once. */
static void acted(const struct tree_file *f)
{
	if (f->kind->ctl && f->kind->ctl->refresh_all)
		tree_refresh_all();
	else
		sync_expire_all(false);
	/* The writer's next command must not see the kernel's old
	 * attributes: wait until it heard (safe here, in the control
	 * mount's operation, not the data mount's). */
	notify_wait();
}

int tree_write(struct tree_file *f, const char *data, size_t len, off_t off)
{
	bool done = false;
	if (!f->ctl)
		return -EBADF;
	int rc = ctl_write(f->ctl, data, len, off, &done);
	if (done)
		acted(f);
	return rc;
}

int tree_flush(struct tree_file *f, bool release)
{
	bool done = false;
	if (!f->ctl)
		return 0;
	int rc = ctl_flush(f->ctl, release, &done);
	if (done)
		acted(f);
	return rc;
}

int tree_read(struct tree_file *f, char *out, size_t size, off_t off)
{
	bool done = false;
	if (f->ctl) {
		int rc = ctl_read(f->ctl, out, size, off, &done);
		if (done)
			acted(f);
		return rc;
	}
	if (f->reader)
		return stream_read(f->reader, out, size, off);
	const struct blob *b = tree_file_content(f);
	if (f->lazy && !b) {
		/* The kernel's pages were dropped after all: render now. Two
		 * reads may both get here; node_lock lets one publish. */
		struct node *n = node_get(f->ino);
		int rc = n ? sync_fresh(n, true) : -ENOENT;
		node_lock();
		if (!rc && !tree_file_content(f))
			__atomic_store_n(&f->content, blob_ref(n->content),
					 __ATOMIC_RELEASE);
		b = tree_file_content(f);
		node_unlock();
		node_put(n);
		if (rc)
			return rc;
	}
	if (!b)
		b = f->snapshot;
	if (!b || off < 0 || (size_t)off >= b->len)
		return 0;
	size_t n = b->len - (size_t)off;
	if (n > size)
		n = size;
	memcpy(out, b->data + off, n);
	return (int)n;
}

bool tree_is_writable(fuse_ino_t ino)
{
	struct node *n = node_get(ino);
	if (!n)
		return false;
	bool w = n->kind->ctl && !n->kind->ctl->blocking_read;
	node_put(n);
	return w;
}
