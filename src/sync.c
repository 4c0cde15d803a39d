/* sync.c - keeping the inode table in step with the platform.
 *
 * Fresh listings reconciled with a directory's children, files rendered
 * or reloaded from their list page, TTLs, and the expire epoch that keeps
 * an answer fetched before the user's own action from hiding its effect.
 * The nodes belong to node.c and are touched only under node_lock; the
 * kinds' callbacks (res_*.c and rowwalk.c, which make the API requests)
 * are always called with no lock held. Calls auth for scopes and notify for kernel
 * invalidations.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apisecfs/api.h"
#include "apisecfs/auth.h"
#include "apisecfs/clock.h"
#include "apisecfs/kind.h"
#include "apisecfs/linktab.h"
#include "apisecfs/log.h"
#include "apisecfs/node.h"
#include "apisecfs/notify.h"
#include "apisecfs/rowwalk.h"
#include "apisecfs/stream.h"
#include "apisecfs/sync.h"

/* Largest file a kind may render (a SARIF report of a huge scan). */
#define SYNC_FILE_MAX (256u << 20)
/* A listing this long returns its scratch memory to the system at once. */
#define SYNC_TRIM_ENTRIES 5000

static double ttl_s; /* set once before threads start */
/* Bumped by every sync_expire_all (an action, a refresh). A listing fetched
 * across one may predate the action, so it is applied but stays expired:
 * the next access lists again instead of hiding what the action made. */
static uint64_t expire_epoch; /* atomic */

static uint64_t epoch_now(void)
{
	return __atomic_load_n(&expire_epoch, __ATOMIC_ACQUIRE);
}

static long long ttl_ms(void)
{
	return (long long)(ttl_s * 1000.0);
}

void sync_init(double ttl)
{
	ttl_s = ttl;
}

/* What sync hangs on a node goes with it (node.c knows neither type). */
void sync_more_free(struct node_more *m)
{
	stream_unref(m->stream);
	linktab_unref(m->links);
}

/* ---- listings and contents ---------------------------------------- */

/* Mode bits tell the truth about the credential's scopes: no read scope,
 * no r/x bits; no write scope, no w bit. A directory's w bit says that rm
 * may delete entries in it. */
mode_t sync_mode(const struct kind *k)
{
	bool r = !k->scope || auth_has_scope(k->scope);
	bool w = k->write_scope && auth_has_scope(k->write_scope);
	switch (k->type) {
	case KIND_DIR:
		w = r && k->entries_remove_scope &&
		    auth_has_scope(k->entries_remove_scope);
		return S_IFDIR | (r ? 0555 : 0) | (w ? 0200 : 0);
	case KIND_LINK: return S_IFLNK | 0777;
	case KIND_CTL:
		if (k->ctl && k->ctl->blocking_read)
			return S_IFREG | (r ? 0444 : 0);
		/* A control without a scope (.refresh) is anyone's. */
		w = !k->write_scope || w;
		return S_IFREG |
		       (w ? (k->ctl && k->ctl->readable ? 0600 : 0200) : 0);
	case KIND_FILE: break;
	}
	return S_IFREG | (r ? 0444 : 0) | (w ? 0200 : 0);
}

/* Lock held: n's subtree takes the modes of the current scope set; the
 * kernel forgets the attributes of each inode it holds whose mode moved,
 * rather than show the old bits for a whole TTL. */
static void remode_locked(struct node *n)
{
	struct node *c;
	mode_t m = sync_mode(n->kind);
	if (n->ino != FUSE_ROOT_ID && m != n->mode) {
		n->mode = m;
		if (n->nlookup)
			notify_inval_attr(n->ino);
	}
	for (size_t pos = 0; (c = node_next_child_locked(n, &pos)); pos++)
		remode_locked(c);
}

void sync_scopes_changed(void)
{
	struct node *root = node_get(FUSE_ROOT_ID);
	if (!root)
		return;
	node_lock();
	remode_locked(root);
	node_unlock();
	node_put(root);
}

bool sync_may_read(const struct kind *k)
{
	return !k->scope || auth_has_scope(k->scope);
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

void sync_ctx_of(const struct node *n, struct kind_ctx *c)
{
	c->ino = n->ino;
	c->name = n->name;
	c->id = node_id(n);
	c->ctx = node_ctx(n);
	c->obj = blob_ref(node_obj(n));
	c->list_sig = n->more ? n->more->list_sig : 0;
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
	struct node *c;
	/* Two fetches raced and the one started before an action finished
	 * last: what is applied is newer; keep it (the older one would drop
	 * an entry, e.g. the scan just started, that was looked up since). */
	struct node_more *dm = node_more_locked(dir);
	if (!dm)
		return -ENOMEM;
	if (dm->listed && epoch < dm->list_epoch)
		return 0;
	dm->list_epoch = epoch;
	dir->expires_ms = epoch == epoch_now() ? clock_ms() + ttl_ms() : 0;
	if (l->unchanged && dm->listed)
		return 0;
	bool nomem;
	struct linktab *links = linktab_from_listing(l, &nomem);
	if (nomem)
		return -ENOMEM;
	for (size_t pos = 0; (c = node_next_child_locked(dir, &pos)); pos++)
		c->mark = false;
	for (size_t i = 0; i < l->n; i++) {
		struct listing_entry *e = &l->v[i];
		if (e->kind->type == KIND_LINK)
			continue; /* in the link table; an inode on lookup */
		c = node_child_locked(dir, e->name);
		if (c && (c->kind != e->kind || !same(node_id(c), e->id) ||
			  !same(node_ctx(c), e->ctx))) {
			/* Same name, different thing: a new inode. */
			if (c->nlookup)
				notify_inval_entry(dir->ino, c->name);
			node_unlink_locked(c);
			c = NULL;
		}
		if (!c) {
			c = node_add_child_locked(dir, e->name, e->kind, e->id,
						  e->ctx, sync_mode(e->kind));
			if (!c) {
				linktab_unref(links);
				return -ENOMEM;
			}
		}
		c->mark = true;
		c->mode = sync_mode(e->kind);
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
			/* Bytes the listing kept: the first read needs no
			 * rendering (the LRU drops them past the cap). */
			if (e->content && !c->content)
				node_set_content_locked(c, e->content);
			else
				blob_unref(e->content);
			e->content = NULL;
		} else if (e->content) {
			if (node_set_content_locked(c, e->content))
				content_changed_locked(c);
			/* Content from a listing lives as long as it. */
			c->expires_ms = dir->expires_ms;
			e->content = NULL;
		}
	}
	for (size_t pos = 0; (c = node_next_child_locked(dir, &pos)); pos++) {
		if (c->mark)
			continue;
		/* A link looked up before stays while it points the same. */
		const struct linkent *le =
			S_ISLNK(c->mode) ? linktab_find(links, c->name) : NULL;
		if (le && c->content &&
		    linktab_target_is(links, le, c->content->data)) {
			c->mtime = le->mtime;
			continue;
		}
		if (c->nlookup)
			notify_inval_entry(dir->ino, c->name);
		node_unlink_locked(c);
	}
	linktab_unref(dm->links);
	dm->links = links;
	dm->list_sig = l->sig;
	dm->listed = true;
	return 0;
}

/* dir was unlinked (a listing without it), yet its parent lists the same
 * object under the same name again: the kernel may still hold dir's inode,
 * so it keeps working rather than turning into an empty directory. */
static bool relisted_locked(struct node *dir)
{
	struct node *p = dir->parent ? node_find_locked(dir->parent) : NULL;
	struct node *now = p ? node_child_locked(p, dir->name) : NULL;
	return now && now->kind == dir->kind &&
	       same(node_id(now), node_id(dir)) &&
	       same(node_ctx(now), node_ctx(dir));
}

/* Make dir's listing fresh (dir pinned). A directory that shows an API
 * object (apps/NAME/, scans/ID/) gets that object from its parent's
 * listing, so the parent is refreshed first. */
int sync_listed(struct node *dir)
{
	struct kind_ctx c;
	struct listing l = { 0 };

	node_lock();
	bool fresh = node_listed(dir) && clock_ms() < dir->expires_ms;
	bool derived = node_obj(dir) && dir->parent;
	node_unlock();
	if (fresh)
		return 0;
	if (derived) {
		struct node *p = node_get(dir->parent);
		int rc = p ? sync_listed(p) : 0;
		node_put(p);
		if (rc)
			return rc;
	}
	uint64_t epoch = epoch_now();
	node_lock();
	sync_ctx_of(dir, &c);
	node_unlock();

	const struct kind *k = dir->kind;
	int rc = k->list  ? k->list(&c, &l)
		 : k->row ? rowwalk_list(&c, k->row, &l)
			  : 0;
	if (rc == 0) {
		node_lock();
		if (dir->linked || relisted_locked(dir))
			rc = apply(dir, &l, epoch);
		node_unlock();
	}
	blob_unref(c.obj);
	bool big = l.n >= SYNC_TRIM_ENTRIES;
	listing_free(&l);
	/* Building a big listing parsed and copied every page: give the
	 * freed pages back, or RSS keeps the high-water mark of the largest
	 * listing ever built on top of the capped caches. */
	if (big)
		malloc_trim(0);
	return rc;
}

/* Make a paged file's index fresh (n pinned). */
static int ensure_stream(struct node *n)
{
	struct stream *s;
	uint64_t epoch = epoch_now();
	node_lock();
	bool fresh = node_stream(n) && clock_ms() < n->expires_ms;
	node_unlock();
	if (fresh)
		return 0;
	node_lock();
	struct stream *old = stream_ref(node_stream(n));
	node_unlock();
	int rc = stream_build(n->kind->stream_paths, n->kind->stream_item,
			      n->kind->stream_item_len, old, &s);
	stream_unref(old);
	if (rc)
		return rc;
	node_lock();
	if (!node_more_locked(n)) {
		node_unlock();
		stream_unref(s);
		return -ENOMEM;
	}
	if (!n->more->stream || stream_sig(n->more->stream) != stream_sig(s))
		content_changed_locked(n);
	stream_unref(n->more->stream);
	n->more->stream = s;
	n->size = stream_size(s);
	n->expires_ms = epoch == epoch_now() ? clock_ms() + ttl_ms() : 0;
	node_unlock();
	return 0;
}

/* Make a lazily rendered file's content fresh (n pinned). */
int sync_content(struct node *n)
{
	if (n->kind->stream_paths)
		return ensure_stream(n);
	struct kind_ctx c;
	struct buf b;
	time_t mtime = 0;

	uint64_t epoch = epoch_now();
	node_lock();
	if (!n->kind->render ||
	    (n->content && !n->kind->live && clock_ms() < n->expires_ms)) {
		node_unlock();
		return 0;
	}
	sync_ctx_of(n, &c);
	node_unlock();

	buf_init(&b, SYNC_FILE_MAX);
	int rc = n->kind->render(&c, &b, &mtime);
	struct blob *bl = rc ? NULL : blob_from_buf(&b);
	buf_free(&b, false);
	blob_unref(c.obj);
	if (rc)
		return rc;
	if (!bl)
		return -ENOMEM;
	node_lock();
	/* A live file's bytes always differ, and the kernel caches neither
	 * its pages nor its attributes: nothing to invalidate. */
	if (node_set_content_locked(n, bl) && !n->kind->live)
		content_changed_locked(n);
	if (mtime)
		n->mtime = mtime;
	n->expires_ms = epoch == epoch_now() ? clock_ms() + ttl_ms() : 0;
	node_unlock();
	return 0;
}

struct reload {
	struct node *dir;
	struct node *want; /* the file being read */
	struct blob *got;  /* its bytes, held until they are its content */
	bool past_want;	   /* the page's items from here follow it */
	size_t kept;	   /* bytes of siblings kept so far */
};

/* A re-rendered file from the page: give it to the child with that id. */
/* Lock held: dir's child about API id: by its likely name, else (a name
 * changed by a collision: rare, small directories) by looking. */
static struct node *child_by_id_locked(struct node *dir, const char *id,
				       const char *name)
{
	struct node *c = node_child_locked(dir, name);
	if (c && same(node_id(c), id))
		return c;
	for (size_t pos = 0; (c = node_next_child_locked(dir, &pos)); pos++)
		if (same(node_id(c), id))
			return c;
	return NULL;
}

static int reload_emit(const char *id, const char *name, struct blob *content,
		       void *ud)
{
	struct reload *r = ud;
	node_lock();
	struct node *c = child_by_id_locked(r->dir, id, name);
	if (c && c == r->want && !r->got) {
		r->got = blob_ref(content);
		r->past_want = true;
	}
	/* Keep the siblings that follow the file read, up to half the cap:
	 * a reader goes through a directory in the page's order, and a page
	 * larger than the cap would otherwise evict its next files while it
	 * is rendered, so that every file cost a page again. */
	bool keep = r->past_want && r->kept < node_content_max() / 2;
	if (keep && c && c != r->want)
		r->kept += content->len;
	if (c && c->src && !c->content && (keep || c == r->want)) {
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
	struct reload r = { dir, n, NULL, false, 0 };
	node_lock();
	struct blob *key = blob_ref(n->src);
	node_unlock();
	const struct res_row *row = dir->kind->row;
	int rc = key && row ? rowwalk_reload(row, key->data, reload_emit, &r)
			    : -EIO;
	/* A page's files can outweigh the content cap, and filling them
	 * evicts the first ones: the file being read goes in last. */
	node_lock();
	if (r.got && n->src && !n->content) {
		if (node_set_content_locked(n, r.got))
			content_changed_locked(n);
		r.got = NULL;
	}
	node_unlock();
	blob_unref(r.got);
	blob_unref(key);
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
int sync_fresh(struct node *n, bool need_bytes)
{
	if (n->kind->render || n->kind->stream_paths)
		return sync_content(n);
	node_lock();
	bool fresh = clock_ms() < n->expires_ms;
	node_unlock();
	if (!n->parent)
		return 0;
	struct node *p = node_get(n->parent);
	int rc = 0;
	if (p && !fresh)
		rc = sync_listed(p);
	if (p && !rc && need_bytes && !has_content(n)) {
		rc = reload(n, p);
		if (!rc && !has_content(n)) {
			/* The page moved under us (items added before it):
			 * list again for the new pages, then retry once. */
			node_lock();
			p->expires_ms = 0;
			node_unlock();
			rc = sync_listed(p);
			if (!rc)
				rc = reload(n, p);
			if (!rc && !has_content(n))
				rc = -ENOENT;
		}
	}
	node_put(p);
	return rc;
}

/* ---- expiry ------------------------------------------------------- */

/* Expire n's subtree (lock held). The data mount reads without OPEN, so
 * the kernel's attributes are what makes it ask again: they are dropped
 * for every file it knows. With kernel, its pages go too; without, they
 * stay unless the new attributes (size, mtime) show a change, or a
 * relisting that finds changed bytes invalidates just those. */
static void expire_tree_locked(struct node *n, bool kernel)
{
	struct node *c;
	n->expires_ms = 0;
	if (!S_ISDIR(n->mode) && (n->nlookup || n->opened_before)) {
		if (kernel) {
			n->opened_before = false;
			notify_inval_inode(n->ino);
		} else {
			notify_inval_attr(n->ino);
		}
	}
	for (size_t pos = 0; (c = node_next_child_locked(n, &pos)); pos++)
		expire_tree_locked(c, kernel);
}

void sync_expire_all(bool kernel)
{
	__atomic_add_fetch(&expire_epoch, 1, __ATOMIC_ACQ_REL);
	if (kernel)
		api_forget_changes(); /* a refresh: ask for every page */
	api_expire_cached();
	struct node *root = node_get(FUSE_ROOT_ID);
	if (!root)
		return;
	node_lock();
	expire_tree_locked(root, kernel);
	node_unlock();
	node_put(root);
}
