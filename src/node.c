/* node.c - inode table with kernel lookup counts.
 *
 * Owns every struct node; all protected by table.lock. A leaf apart from
 * buf: it does not know what the nodes mean (tree.c does).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apisecfs/node.h"

static struct {
	pthread_mutex_t lock;
	struct node *by_ino; /* hh_ino */
	fuse_ino_t next_ino;
	uid_t uid;
	gid_t gid;
} table = { .lock = PTHREAD_MUTEX_INITIALIZER };

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
	HASH_DELETE(hh_ino, table.by_ino, n);
	free(n->name);
	free(n->id);
	free(n->ctx);
	blob_unref(n->content);
	blob_unref(n->obj);
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
	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->name = strdup(name);
	n->id = id ? strdup(id) : NULL;
	n->ctx = ctx ? strdup(ctx) : NULL;
	if (!n->name || (id && !n->id) || (ctx && !n->ctx)) {
		free(n->name);
		free(n->id);
		free(n->ctx);
		free(n);
		return NULL;
	}
	n->ino = ino;
	n->parent = parent;
	n->kind = k;
	n->mode = mode;
	n->mtime = time(NULL);
	HASH_ADD(hh_ino, table.by_ino, ino, sizeof(n->ino), n);
	return n;
}

int node_init(const struct kind *root_kind)
{
	table.uid = getuid();
	table.gid = getgid();
	table.next_ino = FUSE_ROOT_ID + 1;
	struct node *root = node_alloc(FUSE_ROOT_ID, 0, "", root_kind,
				       NULL, NULL, S_IFDIR | 0555);
	if (!root)
		return -1;
	root->linked = true;
	root->nlookup = 1; /* the kernel never forgets the root */
	return 0;
}

void node_cleanup(void)
{
	struct node *n, *tmp;
	pthread_mutex_lock(&table.lock);
	/* First drop every children table (uthash's own allocations),
	 * then the nodes: the tables point into nodes freed here too. */
	HASH_ITER(hh_ino, table.by_ino, n, tmp) {
		HASH_CLEAR(hh_child, n->children);
	}
	HASH_ITER(hh_ino, table.by_ino, n, tmp) {
		node_free(n);
	}
	pthread_mutex_unlock(&table.lock);
}

struct node *node_get(fuse_ino_t ino)
{
	struct node *n;
	pthread_mutex_lock(&table.lock);
	HASH_FIND(hh_ino, table.by_ino, &ino, sizeof(ino), n);
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
	struct node *c;
	HASH_FIND(hh_child, dir->children, name, strlen(name), c);
	return c;
}

struct node *node_add_child_locked(struct node *dir, const char *name,
				   const struct kind *k, const char *id,
				   const char *ctx, mode_t mode)
{
	struct node *c = node_alloc(table.next_ino, dir->ino, name, k, id,
				    ctx, mode);
	if (!c)
		return NULL;
	table.next_ino++;
	c->linked = true;
	HASH_ADD_KEYPTR(hh_child, dir->children, c->name, strlen(c->name), c);
	return c;
}

void node_unlink_locked(struct node *n)
{
	struct node *c, *tmp;
	HASH_ITER(hh_child, n->children, c, tmp) {
		node_unlink_locked(c);
	}
	if (n->linked && n->parent) {
		struct node *p;
		HASH_FIND(hh_ino, table.by_ino, &n->parent, sizeof(n->parent),
			  p);
		if (p)
			HASH_DELETE(hh_child, p->children, n);
	}
	n->linked = false;
	n->listed = false;
	maybe_free(n);
}

void node_lookup_locked(struct node *n)
{
	n->nlookup++;
}

void node_forget(fuse_ino_t ino, uint64_t nlookup)
{
	struct node *n;
	pthread_mutex_lock(&table.lock);
	HASH_FIND(hh_ino, table.by_ino, &ino, sizeof(ino), n);
	if (n && ino != FUSE_ROOT_ID) {
		if (n->nlookup < nlookup)
			abort(); /* the kernel never forgets more than it had */
		n->nlookup -= nlookup;
		maybe_free(n);
	}
	pthread_mutex_unlock(&table.lock);
}

void node_stat_locked(const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = S_ISDIR(n->mode) ? 2 : 1;
	st->st_uid = table.uid;
	st->st_gid = table.gid;
	st->st_size = n->content ? (off_t)n->content->len : 0;
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtime = st->st_ctime = st->st_atime = n->mtime;
}

bool node_set_content_locked(struct node *n, struct blob *content)
{
	if (blob_equal(n->content, content)) {
		blob_unref(content);
		return false;
	}
	blob_unref(n->content);
	n->content = content;
	return true;
}

bool node_set_obj_locked(struct node *n, struct blob *obj)
{
	if (blob_equal(n->obj, obj)) {
		blob_unref(obj);
		return false;
	}
	blob_unref(n->obj);
	n->obj = obj;
	return true;
}

size_t node_count(void)
{
	pthread_mutex_lock(&table.lock);
	size_t n = HASH_CNT(hh_ino, table.by_ino);
	pthread_mutex_unlock(&table.lock);
	return n;
}
