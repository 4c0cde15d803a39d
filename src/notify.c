/* notify.c - a queue and a thread delivering kernel invalidations.
 *
 * Owns the queue (protected by q.lock, a leaf: taken under node_lock,
 * nothing under it, never held while delivering or calling). Calls only
 * libfuse (or a unit test's sink, notify_set_sink) and log, and the
 * functions queued with notify_call. Errors
 * ENOENT (the kernel no longer knows the inode), EBADF and ENODEV (the
 * session is being unmounted) are expected and ignored.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/log.h"
#include "apisecfs/notify.h"

struct item {
	fuse_ino_t ino; /* inode, or the parent for an entry */
	char *name;	/* NULL: inode invalidation */
	bool attr_only; /* inode: attributes, not the pages */
	notify_fn fn;	/* non-NULL: call fn(data session, ino) instead */
	struct item *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	pthread_cond_t drained; /* done caught up with queued */
	uint64_t queued, done;	/* items pushed / delivered, ever */
	struct item *head, *tail;
	bool running, stopping;
	pthread_t thread;	    /* set once by notify_start */
	struct fuse_session *se[2]; /* the data and the control mount; set
				     * once before the thread starts */
	notify_sink_fn sink;	    /* a test's; set before the thread */
} q = { .lock = PTHREAD_MUTEX_INITIALIZER,
	.more = PTHREAD_COND_INITIALIZER,
	.drained = PTHREAD_COND_INITIALIZER };

/* Both mounts show the same inodes, and each kernel connection caches
 * its own copy: tell each (one that never saw the inode says ENOENT). */
static void deliver(const struct item *it)
{
	if (q.sink) {
		if (!it->fn)
			q.sink(it->ino, it->name, it->attr_only);
		return;
	}
	if (it->fn) {
		if (q.se[0])
			it->fn(q.se[0], it->ino);
		return;
	}
	for (size_t i = 0; i < 2; i++) {
		struct fuse_session *se = q.se[i];
		int rc;
		if (!se)
			continue;
		if (it->name)
			rc = fuse_lowlevel_notify_inval_entry(
				se, it->ino, it->name, strlen(it->name));
		else
			rc = fuse_lowlevel_notify_inval_inode(
				se, it->ino, it->attr_only ? -1 : 0, 0);
		if (rc && rc != -ENOENT && rc != -EBADF && rc != -ENODEV)
			log_debug("kernel invalidation of inode %lu failed: "
				  "%s",
				  (unsigned long)it->ino, strerror(-rc));
	}
}

static void *run(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&q.lock);
	for (;;) {
		while (!q.head && !q.stopping)
			pthread_cond_wait(&q.more, &q.lock);
		if (!q.head)
			break;
		struct item *it = q.head;
		q.head = it->next;
		if (!q.head)
			q.tail = NULL;
		pthread_mutex_unlock(&q.lock);
		deliver(it);
		free(it->name);
		free(it);
		pthread_mutex_lock(&q.lock);
		q.done++;
		pthread_cond_broadcast(&q.drained);
	}
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

void notify_set_sink(notify_sink_fn fn)
{
	q.sink = fn;
}

int notify_start(struct fuse_session *se, struct fuse_session *ctl_se)
{
	q.se[0] = se;
	q.se[1] = ctl_se;
	q.stopping = false;
	if (pthread_create(&q.thread, NULL, run, NULL))
		return -1;
	q.running = true;
	return 0;
}

void notify_stop(void)
{
	if (!q.running)
		return;
	pthread_mutex_lock(&q.lock);
	q.stopping = true;
	pthread_cond_signal(&q.more);
	pthread_mutex_unlock(&q.lock);
	pthread_join(q.thread, NULL);
	pthread_mutex_lock(&q.lock);
	q.running = false;
	q.done = q.queued;
	pthread_cond_broadcast(&q.drained);
	pthread_mutex_unlock(&q.lock);
}

static void push(fuse_ino_t ino, const char *name, bool attr_only,
		 notify_fn fn)
{
	struct item *it = calloc(1, sizeof(*it));
	if (!it || (name && !(it->name = strdup(name)))) {
		free(it);
		return; /* the TTL still bounds how stale the kernel is */
	}
	it->ino = ino;
	it->attr_only = attr_only;
	it->fn = fn;
	pthread_mutex_lock(&q.lock);
	if (!q.running) {
		pthread_mutex_unlock(&q.lock);
		free(it->name);
		free(it);
		return;
	}
	if (q.tail)
		q.tail->next = it;
	else
		q.head = it;
	q.tail = it;
	q.queued++;
	pthread_cond_signal(&q.more);
	pthread_mutex_unlock(&q.lock);
}

void notify_inval_inode(fuse_ino_t ino)
{
	push(ino, NULL, false, NULL);
}

void notify_inval_attr(fuse_ino_t ino)
{
	push(ino, NULL, true, NULL);
}

void notify_inval_entry(fuse_ino_t parent, const char *name)
{
	push(parent, name, false, NULL);
}

void notify_call(notify_fn fn, fuse_ino_t ino)
{
	push(ino, NULL, false, fn);
}

void notify_wait(void)
{
	pthread_mutex_lock(&q.lock);
	uint64_t upto = q.queued;
	while (q.running && q.done < upto)
		pthread_cond_wait(&q.drained, &q.lock);
	pthread_mutex_unlock(&q.lock);
}
