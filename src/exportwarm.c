/* exportwarm.c - the export's readers ahead: a breadth-first walk of the
 * tree that makes its requests before the writers need them.
 *
 * Owns the walk's queue of directories (w.lock), each holding a lookup of
 * its node, and its threads. Calls tree for everything, and exportdir
 * only for its name check (a name the writers leave out is not asked
 * for). See exportwarm.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/exportdir.h"
#include "apisecfs/exportwarm.h"
#include "apisecfs/log.h"
#include "apisecfs/tree.h"

/* As many threads as the writers may have: the requests they make wait
 * for a connection from the HTTP pool, which bounds what is in flight. */
#define EXPORTWARM_THREADS_MAX 16

struct wdir {
	fuse_ino_t ino;
	bool root; /* DIR itself: no lookup held */
	struct wdir *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wdir *head, *tail; /* protected by lock: FIFO, breadth first */
	unsigned busy;		  /* protected by lock: directories in work */
	bool stop;		  /* protected by lock */
	pthread_t th[EXPORTWARM_THREADS_MAX];
	unsigned n;
} w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static bool stopped(void)
{
	pthread_mutex_lock(&w.lock);
	bool s = w.stop;
	pthread_mutex_unlock(&w.lock);
	return s;
}

/* The platform (or memory) failed: the writers will meet it too and say
 * so; asking more now would only add load to a failing platform. */
static void give_up(int rc)
{
	log_debug("export: reading ahead stops: %s", strerror(-rc));
	pthread_mutex_lock(&w.lock);
	w.stop = true;
	pthread_cond_broadcast(&w.cond);
	pthread_mutex_unlock(&w.lock);
}

/* Queue directory ino (its lookup handed over, but the root's). */
static void push(fuse_ino_t ino, bool root)
{
	struct wdir *d = malloc(sizeof(*d));
	if (!d) {
		if (!root)
			tree_forget(ino, 1);
		give_up(-ENOMEM);
		return;
	}
	d->ino = ino;
	d->root = root;
	d->next = NULL;
	pthread_mutex_lock(&w.lock);
	if (w.tail)
		w.tail->next = d;
	else
		w.head = d;
	w.tail = d;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
}

/* Entries that are not known without a request (tree_dirplus leaves
 * them to a lookup) are looked up, which renders them; directories are
 * queued. Returns 0, or -errno when the platform failed. */
static int warm_entry(const struct tree_dir *d, size_t i, fuse_ino_t dir,
		      bool root)
{
	struct fuse_entry_param e;
	const char *name = d->v[i].name;
	/* A link's target comes from the listing: nothing to ask. */
	if (S_ISLNK(d->v[i].mode) || !exportdir_name_ok(name, root))
		return 0;
	tree_dirplus(TREE_VIEW_EXPORT, d, i, &e);
	if (!e.ino) {
		int rc = tree_lookup(TREE_VIEW_EXPORT, dir, name, &e);
		/* Gone since the listing, or not the credential's to read:
		 * the writers leave it out as well. */
		if (rc == -ENOENT || rc == -EACCES)
			return 0;
		if (rc)
			return rc;
	}
	if (S_ISDIR(e.attr.st_mode) && (e.attr.st_mode & 0444))
		push(e.ino, false);
	else
		tree_forget(e.ino, 1);
	return 0;
}

static void warm_dir(const struct wdir *wd)
{
	struct tree_dir *d = NULL;
	bool unused_keep_cache;
	int rc = tree_opendir(TREE_VIEW_EXPORT, wd->ino, &d,
			      &unused_keep_cache);
	if (rc) {
		if (rc != -ENOENT && rc != -EACCES)
			give_up(rc);
		return;
	}
	for (size_t i = 2; i < d->n && !rc && !stopped(); i++)
		rc = warm_entry(d, i, wd->ino, wd->root);
	if (rc)
		give_up(rc);
	tree_dir_free(d);
}

static void *walker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&w.lock);
	for (;;) {
		while (!w.head && w.busy && !w.stop)
			pthread_cond_wait(&w.cond, &w.lock);
		if (!w.head || w.stop)
			break;
		struct wdir *d = w.head;
		if (!(w.head = d->next))
			w.tail = NULL;
		w.busy++;
		pthread_mutex_unlock(&w.lock);
		warm_dir(d);
		if (!d->root)
			tree_forget(d->ino, 1);
		free(d);
		pthread_mutex_lock(&w.lock);
		w.busy--;
		pthread_cond_broadcast(&w.cond);
	}
	pthread_cond_broadcast(&w.cond);
	pthread_mutex_unlock(&w.lock);
	return NULL;
}

unsigned exportwarm_start(unsigned threads, const fuse_ino_t *dirs, size_t n)
{
	if (threads > EXPORTWARM_THREADS_MAX)
		threads = EXPORTWARM_THREADS_MAX;
	w.stop = false;
	w.busy = 0;
	if (!n)
		push(FUSE_ROOT_ID, true);
	for (size_t i = 0; i < n; i++)
		push(dirs[i], false);
	for (w.n = 0; w.n < threads; w.n++)
		if (pthread_create(&w.th[w.n], NULL, walker, NULL))
			break;
	return w.n;
}

void exportwarm_stop(void)
{
	pthread_mutex_lock(&w.lock);
	w.stop = true;
	pthread_cond_broadcast(&w.cond);
	pthread_mutex_unlock(&w.lock);
	for (unsigned i = 0; i < w.n; i++)
		pthread_join(w.th[i], NULL);
	w.n = 0;
	while (w.head) {
		struct wdir *d = w.head;
		w.head = d->next;
		if (!d->root)
			tree_forget(d->ino, 1);
		free(d);
	}
	w.tail = NULL;
}
