/* treeread.c - the data mount's reads: a file's bytes by inode, with no
 * open and no handle (FUSE_CAP_NO_OPEN_SUPPORT).
 *
 * Held contents are answered from their blob, without a copy; evicted
 * ones are rendered again from their list page (sync.c); paged files
 * (all.jsonl) keep one reader each so that the kernel's sequential reads
 * render each page once. The first read of a file also hands the kernel
 * the pages of the files listed after it (store-ahead). Calls node, sync,
 * stream and notify.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "apisecfs/kind.h"
#include "apisecfs/node.h"
#include "apisecfs/notify.h"
#include "apisecfs/stream.h"
#include "apisecfs/sync.h"
#include "apisecfs/tree.h"

/* Readers of paged files for reads that come without an open (the data
 * mount): one per file, kept so that the kernel's sequential reads render
 * each page once. Each slot's mutex is held across the read (its page
 * may be fetched); the readers are few (vulns/all.jsonl). Lock order: a
 * slot lock is outermost; under it node_lock, then (not nested) the
 * reader's own lock and whatever a page fetch takes (stream.c). It
 * protects ino and r. */
#define TREE_READERS 4
static struct reader_slot {
	pthread_mutex_t lock;
	fuse_ino_t ino;
	struct stream_reader *r;
} readers[TREE_READERS] = {
	[0 ... TREE_READERS - 1] = { .lock = PTHREAD_MUTEX_INITIALIZER },
};

static int read_stream(struct node *n, char *out, size_t size, off_t off)
{
	struct reader_slot *slot = &readers[n->ino % TREE_READERS];
	int rc = -ENOMEM;
	pthread_mutex_lock(&slot->lock);
	for (int tries = 0; tries < 2; tries++) {
		node_lock();
		struct stream *s = node_stream(n);
		if (slot->ino != n->ino || !slot->r ||
		    !stream_reader_on(slot->r, s)) {
			stream_reader_free(slot->r);
			slot->r = s ? stream_reader_new(s) : NULL;
			slot->ino = n->ino;
		}
		node_unlock();
		if (!slot->r)
			break;
		rc = stream_read(slot->r, out, size, off);
		if (rc != -EIO)
			break;
		/* The list changed under the index: index it again. */
		node_lock();
		n->expires_ms = 0;
		node_unlock();
		if ((rc = sync_content(n)))
			break;
	}
	pthread_mutex_unlock(&slot->lock);
	return rc;
}

void tree_read_cleanup(void)
{
	for (size_t i = 0; i < TREE_READERS; i++) {
		stream_reader_free(readers[i].r);
		readers[i].r = NULL;
		readers[i].ino = 0;
	}
}

/* ---- store-ahead ---------------------------------------------------- */

/* grep -r, find -exec and cp -r read a directory's files in listing
 * order, one READ round trip each (a wake-up of this process on the other
 * CPU: most of a cold read's cost), and the kernel then marks each file's
 * atime stale, so the next pass asks its attributes once more. Files
 * whose bytes are held are instead stored into the kernel's page cache
 * (FUSE_NOTIFY_STORE) from the delivery thread, a batch ahead of the
 * reader: no round trip, no stale atime. Inode numbers follow the
 * listing order, so the files after ino are ino + 1, ino + 2, ... */
#define STORE_AHEAD 64	     /* files handed over per batch */
#define STORE_AHEAD_SCAN 128 /* inode numbers looked at per batch */

/* May n's held bytes go to the kernel now? (lock held) */
static bool storable_locked(const struct node *n, fuse_ino_t parent)
{
	return n && n->parent == parent && S_ISREG(n->mode) && n->content &&
	       n->content->len && !n->opened_before && !n->stale_attrs &&
	       n->kind->type == KIND_FILE && !n->kind->stream_paths &&
	       !n->kind->live && n->linked;
}

static void store_ahead(struct fuse_session *se, fuse_ino_t after)
{
	node_lock();
	struct node *first = node_find_locked(after);
	fuse_ino_t parent = first ? first->parent : 0;
	node_unlock();
	if (!parent)
		return;
	int stored = 0;
	for (fuse_ino_t ino = after + 1;
	     ino <= after + STORE_AHEAD_SCAN && stored < STORE_AHEAD; ino++) {
		node_lock();
		struct node *n = node_find_locked(ino);
		if (!n || n->parent != parent) {
			node_unlock();
			break; /* past the directory's files */
		}
		struct blob *b = NULL;
		if (storable_locked(n, parent) && sync_may_read(n->kind)) {
			b = blob_ref(n->content);
			/* From now on a change of n invalidates its pages
			 * (queued after this store: delivered after it). */
			n->opened_before = true;
		}
		node_unlock();
		if (!b)
			continue;
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(b->len);
		bv.buf[0].mem = b->data;
		int rc = fuse_lowlevel_notify_store(se, ino, 0, &bv, 0);
		blob_unref(b);
		if (rc == -ENODEV || rc == -EBADF)
			break; /* unmounting */
		stored += rc == 0;
	}
}

/* After the first read of n: queue a batch when the next file is one
 * the kernel has not got (lock held). */
static void store_ahead_from_locked(const struct node *n)
{
	const struct node *next = node_find_locked(n->ino + 1);
	if (storable_locked(next, n->parent))
		notify_call(store_ahead, n->ino);
}

int tree_read_ino(fuse_ino_t ino, size_t size, off_t off, struct blob **held,
		  char **out)
{
	struct node *n = node_get(ino);
	struct blob *b = NULL;
	int rc = 0;
	*held = NULL;
	*out = NULL;
	if (!n)
		return -ENOENT;
	if (n->kind->type == KIND_DIR || n->kind->type == KIND_CTL) {
		rc = n->kind->type == KIND_DIR ? -EISDIR : -EBADF;
		goto out;
	}
	if (!sync_may_read(n->kind)) {
		rc = -EACCES;
		goto out;
	}
	if (n->kind->stream_paths) {
		node_lock();
		bool indexed = node_stream(n) != NULL;
		node_unlock();
		rc = indexed ? 0 : sync_content(n);
		if (!rc && !(*out = malloc(size ? size : 1)))
			rc = -ENOMEM;
		if (!rc)
			rc = read_stream(n, *out, size, off);
		goto out;
	}
	node_lock();
	b = blob_ref(n->content);
	node_unlock();
	if (!b) {
		/* Evicted from our memory, or never rendered: the kernel's
		 * pages were dropped and it asks again. */
		if ((rc = sync_fresh(n, true)))
			goto out;
		node_lock();
		b = blob_ref(n->content);
		node_unlock();
		if (!b) {
			rc = -EIO;
			goto out;
		}
	}
	node_lock();
	node_touch_locked(n);
	n->opened_before = true;
	if (off == 0)
		store_ahead_from_locked(n);
	node_unlock();
	if (off >= 0 && (size_t)off < b->len) {
		size_t len = b->len - (size_t)off;
		if (len > size)
			len = size;
		*out = b->data + off; /* no copy: the caller holds b */
		rc = (int)len;
	}
	*held = b;
	b = NULL;
out:
	blob_unref(b);
	node_put(n);
	return rc;
}
