/* treeread.c - the data mount's reads: a file's bytes by inode, with no
 * open and no handle (FUSE_CAP_NO_OPEN_SUPPORT).
 *
 * Held contents are answered from their blob, without a copy; evicted
 * ones are rendered again from their list page (sync.c); paged files
 * (all.jsonl) keep one reader each so that the kernel's sequential reads
 * render each page once. Calls node, sync and stream.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "apisecfs/kind.h"
#include "apisecfs/node.h"
#include "apisecfs/stream.h"
#include "apisecfs/sync.h"
#include "apisecfs/tree.h"

/* Readers of paged files for reads that come without an open (the data
 * mount): one per file, kept so that the kernel's sequential reads render
 * each page once. Each slot's mutex is held across the read (its page
 * may be fetched); the readers are few (vulns/all.jsonl). */
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
	if (S_ISDIR(n->mode) || n->kind->type == KIND_CTL) {
		rc = S_ISDIR(n->mode) ? -EISDIR : -EBADF;
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

