/* tree.c - the tree engine: fresh listings reconciled with the inode table.
 *
 * Owns nothing but the TTL; the nodes belong to node.c and are touched
 * only under node_lock. Calls node, the kinds' callbacks (restab.c, which
 * make the API requests, always with no lock held), auth for scopes,
 * notify for kernel invalidations and ctl for control-file handles.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apisecfs/api.h"
#include "apisecfs/auth.h"
#include "apisecfs/ctl.h"
#include "apisecfs/kind.h"
#include "apisecfs/linktab.h"
#include "apisecfs/log.h"
#include "apisecfs/node.h"
#include "apisecfs/notify.h"
#include "apisecfs/stream.h"
#include "apisecfs/tree.h"

extern const struct kind restab_root_kind;

/* Largest file a kind may render (a SARIF report of a huge scan). */
#define TREE_FILE_MAX (256u << 20)

static struct tree_opts topts;
/* Bumped by every expire_all (an action, a refresh). A listing fetched
 * across one may predate the action, so it is applied but stays expired:
 * the next access lists again instead of hiding what the action made. */
static uint64_t expire_epoch;

static uint64_t epoch_now(void)
{
	return __atomic_load_n(&expire_epoch, __ATOMIC_ACQUIRE);
}

static void expire_all(bool kernel);

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long long ttl_ms(void)
{
	return (long long)(topts.ttl_s * 1000.0);
}

int tree_init(const struct tree_opts *opts)
{
	topts = *opts;
	return node_init(&restab_root_kind, opts->content_max);
}

void tree_cleanup(void)
{
	node_cleanup();
}

double tree_timeout(void)
{
	return topts.ttl_s;
}

/* ---- listings ----------------------------------------------------- */

/* Mode bits tell the truth about the credential's scopes: no read scope,
 * no r/x bits; no write scope, no w bit. */
static mode_t kind_mode(const struct kind *k)
{
	bool r = !k->scope || auth_has_scope(k->scope);
	bool w = k->write_scope && auth_has_scope(k->write_scope);
	switch (k->type) {
	case KIND_DIR:
		return S_IFDIR | (r ? 0555 : 0);
	case KIND_LINK:
		return S_IFLNK | 0777;
	case KIND_CTL:
		if (k->ctl && k->ctl->blocking_read)
			return S_IFREG | (r ? 0444 : 0);
		/* A control without a scope (.refresh) is anyone's. */
		w = !k->write_scope || w;
		return S_IFREG | (w ? (k->ctl && k->ctl->readable ? 0600
								  : 0200)
				    : 0);
	case KIND_FILE:
		break;
	}
	return S_IFREG | (r ? 0444 : 0) | (w ? 0200 : 0);
}

static bool may_read(const struct kind *k)
{
	return !k->scope || auth_has_scope(k->scope);
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void ctx_of(const struct node *n, struct kind_ctx *c)
{
	c->ino = n->ino;
	c->name = n->name;
	c->id = n->id;
	c->ctx = n->ctx;
	c->obj = blob_ref(n->obj);
	c->list_sig = n->list_sig;
}

/* n's bytes changed (lock held): the kernel's pages and attributes for it
 * are wrong until it hears so. */
static void content_changed_locked(struct node *n)
{
	if (n->nlookup)
		n->stale_attrs = true;
	if (n->opened_before || n->nlookup) {
		n->opened_before = false;
		notify_inval_inode(n->ino);
	}
}

/* Reconcile dir's children with l (lock held); epoch: when the listing
 * was started. */
static int apply(struct node *dir, struct listing *l, uint64_t epoch)
{
	struct node *c, *tmp;
	/* Two fetches raced and the one started before an action finished
	 * last: what is applied is newer; keep it (the older one would drop
	 * an entry, e.g. the scan just started, that was looked up since). */
	if (dir->listed && epoch < dir->list_epoch)
		return 0;
	dir->list_epoch = epoch;
	dir->expires_ms = epoch == epoch_now() ? now_ms() + ttl_ms() : 0;
	if (l->unchanged && dir->listed)
		return 0;
	bool nomem;
	struct linktab *links = linktab_from_listing(l, &nomem);
	if (nomem)
		return -ENOMEM;
	HASH_ITER(hh_child, dir->children, c, tmp) {
		c->mark = false;
	}
	for (size_t i = 0; i < l->n; i++) {
		struct listing_entry *e = &l->v[i];
		if (e->kind->type == KIND_LINK)
			continue; /* in the link table; an inode on lookup */
		c = node_child_locked(dir, e->name);
		if (c && (c->kind != e->kind || !same(c->id, e->id) ||
			  !same(c->ctx, e->ctx))) {
			/* Same name, different thing: a new inode. */
			if (c->nlookup)
				notify_inval_entry(dir->ino, c->name);
			node_unlink_locked(c);
			c = NULL;
		}
		if (!c) {
			c = node_add_child_locked(dir, e->name, e->kind, e->id,
						  e->ctx, kind_mode(e->kind));
			if (!c) {
				linktab_unref(links);
				return -ENOMEM;
			}
		}
		c->mark = true;
		c->mode = kind_mode(e->kind);
		if (e->mtime)
			c->mtime = e->mtime;
		if (e->obj && node_set_obj_locked(c, e->obj))
			c->expires_ms = 0; /* re-derive its children */
		e->obj = NULL;
		if (e->src) {
			if (node_expect_content_locked(c, e->size, e->hash,
						       e->src))
				content_changed_locked(c);
			e->src = NULL;
			c->expires_ms = dir->expires_ms;
		} else if (e->content) {
			if (node_set_content_locked(c, e->content))
				content_changed_locked(c);
			/* Content from a listing lives as long as it. */
			c->expires_ms = dir->expires_ms;
			e->content = NULL;
		}
	}
	HASH_ITER(hh_child, dir->children, c, tmp) {
		if (c->mark)
			continue;
		/* A link looked up before stays while it points the same. */
		const struct linkent *le = S_ISLNK(c->mode)
						   ? linktab_find(links, c->name)
						   : NULL;
		if (le && c->content && !strcmp(c->content->data, le->target)) {
			c->mtime = le->mtime;
			continue;
		}
		if (c->nlookup)
			notify_inval_entry(dir->ino, c->name);
		node_unlink_locked(c);
	}
	linktab_unref(dir->links);
	dir->links = links;
	dir->list_sig = l->sig;
	dir->listed = true;
	return 0;
}

/* dir was unlinked (a listing without it), yet its parent lists the same
 * object under the same name again: the kernel may still hold dir's inode,
 * so it keeps working rather than turning into an empty directory. */
static bool relisted_locked(struct node *dir)
{
	struct node *p = dir->parent ? node_find_locked(dir->parent) : NULL;
	struct node *now = p ? node_child_locked(p, dir->name) : NULL;
	return now && now->kind == dir->kind && same(now->id, dir->id) &&
	       same(now->ctx, dir->ctx);
}

/* Make dir's listing fresh (dir pinned). A directory that shows an API
 * object (apps/NAME/, scans/ID/) gets that object from its parent's
 * listing, so the parent is refreshed first. */
static int ensure_listed(struct node *dir)
{
	struct kind_ctx c;
	struct listing l = { 0 };

	node_lock();
	bool fresh = dir->listed && now_ms() < dir->expires_ms;
	bool derived = dir->obj && dir->parent;
	node_unlock();
	if (fresh)
		return 0;
	if (derived) {
		struct node *p = node_get(dir->parent);
		int rc = p ? ensure_listed(p) : 0;
		node_put(p);
		if (rc)
			return rc;
	}
	uint64_t epoch = epoch_now();
	node_lock();
	ctx_of(dir, &c);
	node_unlock();

	int rc = dir->kind->list ? dir->kind->list(&c, &l) : 0;
	if (rc == 0) {
		node_lock();
		if (dir->linked || relisted_locked(dir))
			rc = apply(dir, &l, epoch);
		node_unlock();
	}
	blob_unref(c.obj);
	listing_free(&l);
	return rc;
}

/* Make a paged file's index fresh (n pinned). */
static int ensure_stream(struct node *n)
{
	struct stream *s;
	uint64_t epoch = epoch_now();
	node_lock();
	bool fresh = n->stream && now_ms() < n->expires_ms;
	node_unlock();
	if (fresh)
		return 0;
	int rc = stream_build(n->kind->stream_paths, n->kind->stream_item, &s);
	if (rc)
		return rc;
	node_lock();
	if (!n->stream || stream_sig(n->stream) != stream_sig(s))
		content_changed_locked(n);
	stream_unref(n->stream);
	n->stream = s;
	n->size = stream_size(s);
	n->expires_ms = epoch == epoch_now() ? now_ms() + ttl_ms() : 0;
	node_unlock();
	return 0;
}

/* Make a lazily rendered file's content fresh (n pinned). */
static int ensure_content(struct node *n)
{
	if (n->kind->stream_paths)
		return ensure_stream(n);
	struct kind_ctx c;
	struct buf b;
	time_t mtime = 0;

	uint64_t epoch = epoch_now();
	node_lock();
	if (!n->kind->render ||
	    (n->content && now_ms() < n->expires_ms)) {
		node_unlock();
		return 0;
	}
	ctx_of(n, &c);
	node_unlock();

	buf_init(&b, TREE_FILE_MAX);
	int rc = n->kind->render(&c, &b, &mtime);
	struct blob *bl = rc ? NULL : blob_from_buf(&b);
	buf_free(&b, false);
	blob_unref(c.obj);
	if (rc)
		return rc;
	if (!bl)
		return -ENOMEM;
	node_lock();
	if (node_set_content_locked(n, bl))
		content_changed_locked(n);
	if (mtime)
		n->mtime = mtime;
	n->expires_ms = epoch == epoch_now() ? now_ms() + ttl_ms() : 0;
	node_unlock();
	return 0;
}

struct reload {
	struct node *dir;
};

/* A re-rendered file from the page: give it to the child with that id. */
static int reload_emit(const char *id, struct blob *content, void *ud)
{
	struct reload *r = ud;
	node_lock();
	struct node *c = node_child_by_id_locked(r->dir, id);
	if (c && c->src && !c->content) {
		/* Different bytes than listed: the data changed since. */
		if (node_set_content_locked(c, content))
			content_changed_locked(c);
	} else {
		blob_unref(content);
	}
	node_unlock();
	return 0;
}

/* Render n's bytes again from the list page they came in (n pinned): one
 * page fetch (usually cached) fills n and its page siblings. */
static int reload(struct node *n, struct node *dir)
{
	struct kind_ctx c;
	struct reload r = { dir };
	node_lock();
	struct blob *key = blob_ref(n->src);
	ctx_of(dir, &c);
	node_unlock();
	int rc = key && dir->kind->reload
			 ? dir->kind->reload(&c, key->data, reload_emit, &r)
			 : -EIO;
	blob_unref(key);
	blob_unref(c.obj);
	return rc;
}

static bool has_content(struct node *n)
{
	node_lock();
	bool yes = n->content != NULL;
	node_unlock();
	return yes;
}

/* Make a file's bytes fresh and, if need_bytes, present (n pinned):
 * render it, or, for bytes that come from a listing, refresh that listing
 * and render the bytes again from their page if they were evicted. */
static int ensure_fresh(struct node *n, bool need_bytes)
{
	if (n->kind->render || n->kind->stream_paths)
		return ensure_content(n);
	node_lock();
	bool fresh = now_ms() < n->expires_ms;
	node_unlock();
	if (!n->parent)
		return 0;
	struct node *p = node_get(n->parent);
	int rc = 0;
	if (p && !fresh)
		rc = ensure_listed(p);
	if (p && !rc && need_bytes && !has_content(n)) {
		rc = reload(n, p);
		if (!rc && !has_content(n)) {
			/* The page moved under us (items added before it):
			 * list again for the new pages, then retry once. */
			node_lock();
			p->expires_ms = 0;
			node_unlock();
			rc = ensure_listed(p);
			if (!rc)
				rc = reload(n, p);
			if (!rc && !has_content(n))
				rc = -ENOENT;
		}
	}
	node_put(p);
	return rc;
}

/* ---- operations --------------------------------------------------- */

/* The inode for link name of dir's link table, made now (lock held);
 * NULL if there is no such link or memory is short. */
static struct node *link_node_locked(struct node *dir, const char *name)
{
	const struct linkent *le = linktab_find(dir->links, name);
	if (!le)
		return NULL;
	struct node *c = node_add_child_locked(dir, name, dir->links->kind,
					       NULL, NULL, S_IFLNK | 0777);
	struct blob *target = c ? blob_new(le->target, strlen(le->target))
				: NULL;
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

/* readdir's inode number for a link not made an inode yet: stable and
 * clear of the real ones, which count up from 2. */
static fuse_ino_t link_ino(const char *name)
{
	return (fuse_ino_t)(buf_hash(name, strlen(name)) | (1ULL << 63));
}

static void entry_of_locked(struct node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	node_stat_locked(n, &e->attr);
	n->stale_attrs = false;
	e->attr_timeout = topts.ttl_s;
	e->entry_timeout = topts.ttl_s;
}

int tree_lookup(fuse_ino_t parent, const char *name,
		struct fuse_entry_param *e)
{
	struct node *dir = node_get(parent);
	int rc;
	if (!dir)
		return -ENOENT;
	if (!S_ISDIR(dir->mode)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!may_read(dir->kind)) {
		rc = -EACCES;
		goto out;
	}
	if ((rc = ensure_listed(dir)))
		goto out;
	node_lock();
	struct node *c = node_child_locked(dir, name);
	if (!c)
		c = link_node_locked(dir, name);
	if (c)
		node_pin_locked(c);
	node_unlock();
	if (!c) {
		rc = -ENOENT;
		goto out;
	}
	/* The size is part of the entry: render lazy files now, unless the
	 * scope says the read would be refused anyway. */
	if ((c->kind->render || c->kind->stream_paths) && may_read(c->kind))
		rc = ensure_content(c);
	if (!rc) {
		node_lock();
		entry_of_locked(c, e);
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

int tree_getattr(fuse_ino_t ino, struct stat *st)
{
	struct node *n = node_get(ino);
	if (!n)
		return -ENOENT;
	if (!S_ISDIR(n->mode) && may_read(n->kind))
		ensure_fresh(n, false); /* on failure: what we have */
	node_lock();
	n->mode = kind_mode(n->kind);
	node_stat_locked(n, st);
	n->stale_attrs = false;
	node_unlock();
	node_put(n);
	return 0;
}

int tree_readlink(fuse_ino_t ino, struct blob **target)
{
	struct node *n = node_get(ino);
	if (!n)
		return -ENOENT;
	int rc = -EINVAL;
	node_lock();
	if (S_ISLNK(n->mode) && n->content) {
		*target = blob_ref(n->content);
		rc = 0;
	}
	node_unlock();
	node_put(n);
	return rc;
}

int tree_opendir(fuse_ino_t ino, struct tree_dir **out)
{
	struct node *dir = node_get(ino);
	struct tree_dir *d = NULL;
	int rc;
	if (!dir)
		return -ENOENT;
	if (!may_read(dir->kind)) {
		rc = -EACCES;
		goto out;
	}
	if ((rc = ensure_listed(dir)))
		goto out;
	rc = -ENOMEM;
	node_lock();
	size_t n = HASH_CNT(hh_child, dir->children) +
		   (dir->links ? dir->links->n : 0);
	d = calloc(1, sizeof(*d));
	if (d)
		d->v = calloc(n + 2, sizeof(*d->v));
	if (d && d->v) {
		struct node *c, *tmp;
		d->v[d->n++] = (struct tree_dirent){ strdup("."), dir->ino,
						     S_IFDIR };
		d->v[d->n++] = (struct tree_dirent){
			strdup(".."), dir->parent ? dir->parent : dir->ino,
			S_IFDIR
		};
		HASH_ITER(hh_child, dir->children, c, tmp) {
			if (c->kind->hidden)
				continue;
			d->v[d->n++] = (struct tree_dirent){ strdup(c->name),
							     c->ino, c->mode };
		}
		for (size_t i = 0; dir->links && i < dir->links->n; i++) {
			const char *ln = dir->links->v[i].name;
			if (node_child_locked(dir, ln))
				continue; /* made an inode: listed above */
			d->v[d->n++] = (struct tree_dirent){
				strdup(ln), link_ino(ln), S_IFLNK | 0777
			};
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
out:
	node_put(dir);
	*out = d;
	return rc;
}

void tree_dir_free(struct tree_dir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	free(d);
}

int tree_open(fuse_ino_t ino, int flags, struct tree_file **out,
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
	if (S_ISDIR(n->mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (n->kind->type == KIND_CTL || (n->kind->ctl && acc != O_RDONLY)) {
		struct kind_ctx c;
		node_lock();
		ctx_of(n, &c);
		node_unlock();
		f = calloc(1, sizeof(*f));
		rc = f ? ctl_open(n->kind, &c, flags, &f->ctl) : -ENOMEM;
		blob_unref(c.obj);
		*direct_io = true; /* sizes and replies are per handle */
		goto out;
	}
	if (!may_read(n->kind)) {
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
	if ((rc = ensure_fresh(n, false)))
		goto out;
	node_lock();
	bool need = !n->content && !n->stream &&
		    !(n->src && n->opened_before);
	node_unlock();
	if (need && (rc = ensure_fresh(n, true)))
		goto out;
	f = calloc(1, sizeof(*f));
	if (!f) {
		rc = -ENOMEM;
		goto out;
	}
	node_lock();
	if (n->stream)
		f->reader = stream_reader_new(n->stream);
	else
		f->content = blob_ref(n->content);
	node_touch_locked(n);
	f->lazy = !f->content && !f->reader && n->src;
	*keep_cache = n->opened_before;
	/* The kernel may still believe an old size (its attributes are
	 * being invalidated from another thread): read around it. */
	*direct_io = n->stale_attrs;
	n->opened_before = true;
	node_unlock();
	if (!f->content && !f->reader && !f->lazy)
		rc = n->stream ? -ENOMEM : -EIO;
out:
	if (f) {
		f->ino = ino;
		f->kind = n->kind;
	}
	if (rc) {
		tree_file_free(f);
		f = NULL;
	}
	node_put(n);
	*out = f;
	return rc;
}

void tree_file_free(struct tree_file *f)
{
	if (!f)
		return;
	blob_unref(f->content);
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
	node_unlock();
	if (!c) {
		rc = -ENOENT;
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
		ctx_of(c, &kc);
		node_unlock();
		rc = c->kind->remove(&kc);
		blob_unref(kc.obj);
		if (rc == 0) {
			node_lock();
			node_unlink_locked(c);
			node_unlock();
			expire_all(false);
		}
	}
	node_put(c);
	node_put(dir);
	return rc;
}

/* Expire n's subtree (lock held). With kernel, the kernel also forgets
 * the pages it cached; without, a relisting that finds changed bytes
 * invalidates just those. */
static void expire_tree_locked(struct node *n, bool kernel)
{
	struct node *c, *tmp;
	n->expires_ms = 0;
	if (kernel && n->opened_before) {
		n->opened_before = false;
		notify_inval_inode(n->ino);
	}
	HASH_ITER(hh_child, n->children, c, tmp) {
		expire_tree_locked(c, kernel);
	}
}

static void expire_all(bool kernel)
{
	__atomic_add_fetch(&expire_epoch, 1, __ATOMIC_ACQ_REL);
	api_expire_cached();
	struct node *root = node_get(FUSE_ROOT_ID);
	if (!root)
		return;
	node_lock();
	expire_tree_locked(root, kernel);
	node_unlock();
	node_put(root);
}

void tree_refresh_all(void)
{
	log_info("refresh: every listing and file will be fetched again");
	expire_all(true);
}

/* After the user's own action, everything it may have touched is
 * revalidated on next access (cheap: ETags), so the change shows at once. */
static void acted(const struct tree_file *f)
{
	if (f->kind->ctl && f->kind->ctl->refresh_all)
		tree_refresh_all();
	else
		expire_all(false);
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

int tree_flush(struct tree_file *f)
{
	bool done = false;
	if (!f->ctl)
		return 0;
	int rc = ctl_flush(f->ctl, &done);
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
	if (f->lazy && !f->content) {
		/* The kernel's pages were dropped after all: render now. */
		struct node *n = node_get(f->ino);
		int rc = n ? ensure_fresh(n, true) : -ENOENT;
		node_lock();
		if (!rc && !f->content)
			f->content = blob_ref(n->content);
		node_unlock();
		node_put(n);
		if (rc)
			return rc;
	}
	if (!f->content || off < 0 || (size_t)off >= f->content->len)
		return 0;
	size_t n = f->content->len - (size_t)off;
	if (n > size)
		n = size;
	memcpy(out, f->content->data + off, n);
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
