/* node.c - inode table with kernel lookup counts.
 *
 * Owns every struct node; all protected by table.lock. A leaf (buf,
 * inotab, nametab; kind.h only says which nodes are paged): it does not
 * know what the nodes mean (tree.c and sync.c do), and what the owner
 * hangs on a node (a stream, a link table) goes back to the owner through
 * the free callback given to node_init.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apisecfs/inotab.h"
#include "apisecfs/kind.h"
#include "apisecfs/node.h"

/* table.lock is node_lock (lock order: node.h). It protects every field
 * here and in every node; content_max, uid, gid and umask are set once
 * before threads start (node_init, node_set_owner). */
static struct {
	pthread_mutex_t lock;
	struct inotab by_ino;
	fuse_ino_t next_ino;
	uid_t uid;
	gid_t gid;
	mode_t umask; /* masks every mode shown (-o umask=) */
	/* Evictable contents (those with a src page), most recent first:
	 * bounded by content_max so memory follows the cap, not the data. */
	struct node *lru_head, *lru_tail;
	size_t content_bytes, content_max;
	node_more_free_fn more_free; /* the owner's parts of node_more */
} table = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void lru_unlink(struct node *n)
{
	if (n->lru_prev)
		n->lru_prev->lru_next = n->lru_next;
	else if (table.lru_head == n)
		table.lru_head = n->lru_next;
	if (n->lru_next)
		n->lru_next->lru_prev = n->lru_prev;
	else if (table.lru_tail == n)
		table.lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
}

static void lru_push(struct node *n)
{
	n->lru_prev = NULL;
	n->lru_next = table.lru_head;
	if (table.lru_head)
		table.lru_head->lru_prev = n;
	table.lru_head = n;
	if (!table.lru_tail)
		table.lru_tail = n;
}

static bool in_lru(const struct node *n)
{
	return n->lru_prev || n->lru_next || table.lru_head == n;
}

/* Drop n's content (lock held); its size stays for getattr. */
static void drop_content(struct node *n)
{
	if (in_lru(n)) {
		lru_unlink(n);
		if (n->content)
			table.content_bytes -= blob_footprint(n->content);
	}
	blob_unref(n->content);
	n->content = NULL;
}

/* Evict from the cold end until under the cap; keep is the node just
 * filled. Open files hold their own reference, so nothing they read
 * goes away. */
static void lru_evict(const struct node *keep)
{
	struct node *n = table.lru_tail;
	while (table.content_bytes > table.content_max && n) {
		struct node *prev = n->lru_prev;
		if (n != keep)
			drop_content(n);
		n = prev;
	}
}

void node_lock(void)
{
	pthread_mutex_lock(&table.lock);
}

void node_unlock(void)
{
	pthread_mutex_unlock(&table.lock);
}

static void node_free(struct node *n)
{
	drop_content(n);
	blob_unref(n->src);
	if (n->more) {
		if (table.more_free)
			table.more_free(n->more);
		blob_unref(n->more->obj);
		nametab_free(&n->more->children);
		free(n->more);
	}
	inotab_del(&table.by_ino, n);
	blob_unref(n->content);
	free(n);
}

/* Free n if nothing refers to it any more (lock held). */
static void maybe_free(struct node *n)
{
	if (!n->linked && n->nlookup == 0 && n->pins == 0 &&
	    n->ino != FUSE_ROOT_ID)
		node_free(n);
}

static struct node *node_alloc(fuse_ino_t ino, fuse_ino_t parent,
			       const char *name, const struct kind *k,
			       const char *id, const char *ctx, mode_t mode)
{
	/* The strings live after the struct: one allocation a node. */
	size_t ln = strlen(name) + 1, li = id ? strlen(id) + 1 : 0,
	       lc = ctx ? strlen(ctx) + 1 : 0;
	struct node *n = calloc(1, offsetof(struct node, name) + ln + li + lc);
	if (!n)
		return NULL;
	memcpy(n->name, name, ln);
	if (id)
		memcpy(n->name + ln, id, li);
	if (ctx)
		memcpy(n->name + ln + li, ctx, lc);
	n->has_id = id != NULL;
	n->has_ctx = ctx != NULL;
	n->ino = ino;
	n->parent = parent;
	n->kind = k;
	n->mode = mode;
	n->mtime = time(NULL);
	/* Directories and paged files always have their optional part, so
	 * the code that lists or pages never meets ENOMEM for it later. */
	bool more = S_ISDIR(mode) || k->stream_paths;
	if ((more && !node_more_locked(n)) || inotab_add(&table.by_ino, n)) {
		free(n->more);
		free(n);
		return NULL;
	}
	return n;
}

struct node_more *node_more_locked(struct node *n)
{
	if (!n->more) {
		n->more = calloc(1, sizeof(*n->more));
		if (n->more)
			nametab_init(&n->more->children,
				     offsetof(struct node, name), true);
	}
	return n->more;
}

int node_init(const struct kind *root_kind, size_t content_max,
	      node_more_free_fn more_free)
{
	table.content_max = content_max;
	table.more_free = more_free;
	table.uid = getuid();
	table.gid = getgid();
	table.next_ino = FUSE_ROOT_ID + 1;
	inotab_init(&table.by_ino, offsetof(struct node, ino));
	struct node *root = node_alloc(FUSE_ROOT_ID, 0, "", root_kind, NULL,
				       NULL, S_IFDIR | 0555);
	if (!root)
		return -1;
	root->linked = true;
	root->nlookup = 1; /* the kernel never forgets the root */
	return 0;
}

void node_cleanup(void)
{
	pthread_mutex_lock(&table.lock);
	/* Every node goes, whatever refers to it: the children tables are
	 * freed with their own node and never read here. */
	struct node *n;
	size_t pos;
	for (pos = 0; (n = inotab_next(&table.by_ino, &pos));)
		node_free(n); /* no step: see inotab_next */
	inotab_free(&table.by_ino);
	pthread_mutex_unlock(&table.lock);
}

struct node *node_find_locked(fuse_ino_t ino)
{
	return inotab_find(&table.by_ino, ino);
}

struct node *node_get(fuse_ino_t ino)
{
	pthread_mutex_lock(&table.lock);
	struct node *n = node_find_locked(ino);
	if (n)
		n->pins++;
	pthread_mutex_unlock(&table.lock);
	return n;
}

void node_pin_locked(struct node *n)
{
	n->pins++;
}

void node_put_locked(struct node *n)
{
	if (!n)
		return;
	if (n->pins <= 0)
		abort(); /* unbalanced pin: a bug, never an errno */
	n->pins--;
	maybe_free(n);
}

void node_put(struct node *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&table.lock);
	node_put_locked(n);
	pthread_mutex_unlock(&table.lock);
}

struct node *node_child_locked(struct node *dir, const char *name)
{
	return dir->more ? nametab_find(&dir->more->children, name) : NULL;
}

struct node *node_next_child_locked(const struct node *dir, size_t *pos)
{
	return dir->more ? nametab_next(&dir->more->children, pos) : NULL;
}

size_t node_child_count_locked(const struct node *dir)
{
	return dir->more ? nametab_count(&dir->more->children) : 0;
}

struct node *node_add_child_locked(struct node *dir, const char *name,
				   const struct kind *k, const char *id,
				   const char *ctx, mode_t mode)
{
	if (!node_more_locked(dir))
		return NULL;
	struct node *c =
		node_alloc(table.next_ino, dir->ino, name, k, id, ctx, mode);
	if (!c)
		return NULL;
	if (nametab_add(&dir->more->children, c)) {
		node_free(c);
		return NULL;
	}
	table.next_ino++;
	c->linked = true;
	return c;
}

void node_unlink_locked(struct node *n)
{
	struct node *c;
	for (size_t pos = 0; (c = node_next_child_locked(n, &pos)); pos++)
		node_unlink_locked(c);
	if (n->linked && n->parent) {
		struct node *p = node_find_locked(n->parent);
		if (p && p->more)
			nametab_del(&p->more->children, n);
	}
	n->linked = false;
	if (n->more)
		n->more->listed = false;
	maybe_free(n);
}

void node_lookup_locked(struct node *n)
{
	n->nlookup++;
}

void node_forget(fuse_ino_t ino, uint64_t nlookup)
{
	pthread_mutex_lock(&table.lock);
	struct node *n = node_find_locked(ino);
	if (n && ino != FUSE_ROOT_ID) {
		if (n->nlookup < nlookup)
			abort(); /* the kernel never forgets more than it had */
		n->nlookup -= nlookup;
		maybe_free(n);
	}
	pthread_mutex_unlock(&table.lock);
}

void node_owner(uid_t *uid, gid_t *gid)
{
	*uid = table.uid;
	*gid = table.gid;
}

void node_set_owner(uid_t uid, gid_t gid, mode_t umask)
{
	pthread_mutex_lock(&table.lock);
	table.uid = uid;
	table.gid = gid;
	table.umask = umask & 0777;
	pthread_mutex_unlock(&table.lock);
}

void node_stat_locked(const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	/* A link's bits mean nothing (its target's count): left 0777. */
	st->st_mode = S_ISLNK(n->mode) ? n->mode : n->mode & ~table.umask;
	st->st_nlink = S_ISDIR(n->mode) ? 2 : 1;
	st->st_uid = table.uid;
	st->st_gid = table.gid;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtime = st->st_ctime = st->st_atime = n->mtime;
}

bool node_set_content_locked(struct node *n, struct blob *content)
{
	if (n->content && blob_equal(n->content, content)) {
		blob_unref(content);
		node_touch_locked(n);
		return false;
	}
	uint64_t h = content ? buf_digest(content->data, content->len) : 0;
	bool changed =
		!content || content->len != n->size || h != n->content_hash;
	drop_content(n);
	n->content = content;
	n->size = content ? content->len : 0;
	n->content_hash = h;
	if (content && n->src) {
		lru_push(n);
		table.content_bytes += blob_footprint(content);
		lru_evict(n);
	}
	return changed;
}

bool node_expect_content_locked(struct node *n, size_t size, uint64_t hash,
				struct blob *src)
{
	blob_unref(n->src);
	n->src = src;
	if (n->size == size && n->content_hash == hash)
		return false;
	drop_content(n);
	n->size = size;
	n->content_hash = hash;
	return true;
}

void node_touch_locked(struct node *n)
{
	if (in_lru(n)) {
		lru_unlink(n);
		lru_push(n);
	}
}

size_t node_content_max(void)
{
	return table.content_max; /* set once at init */
}

size_t node_content_bytes(void)
{
	pthread_mutex_lock(&table.lock);
	size_t n = table.content_bytes;
	pthread_mutex_unlock(&table.lock);
	return n;
}

bool node_set_obj_locked(struct node *n, struct blob *obj)
{
	if (blob_equal(node_obj(n), obj) || !node_more_locked(n)) {
		blob_unref(obj); /* no memory: it keeps the object it shows */
		return false;
	}
	blob_unref(n->more->obj);
	n->more->obj = obj;
	return true;
}

size_t node_count(void)
{
	pthread_mutex_lock(&table.lock);
	size_t n = table.by_ino.count;
	pthread_mutex_unlock(&table.lock);
	return n;
}
