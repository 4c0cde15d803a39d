/* spill.c - evicted list pages in an unnamed file (see spill.h). The file
 * offset and generation are protected by sp.lock; reads and writes use
 * pread/pwrite at offsets no one else writes while a reference to them is
 * valid. A leaf: calls buf and log. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apisecfs/log.h"
#include "apisecfs/spill.h"

/* sp.lock: innermost (taken under cache.lock), held across a page's
 * pwrite; nothing is taken under it. */
static struct {
	pthread_mutex_t lock;
	int fd;
	size_t cap;
	off_t end;    /* where the next page goes */
	uint64_t gen; /* bumped when the file starts over */
} sp = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .gen = 1 };

static int open_unnamed(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0 ||
	    (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	/* No O_TMPFILE on this file system: a private name, gone at once. */
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/apisecfs-spill.XXXXXX", dir) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/* All len bytes at off, written or read (short transfers and EINTR
 * continued): true, or false with errno set. */
static bool io_all(int fd, char *p, size_t len, off_t off, bool write)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write ? pwrite(fd, p + done, len - done,
					   off + (off_t)done)
				  : pread(fd, p + done, len - done,
					  off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return false;
		}
		done += (size_t)n;
	}
	return true;
}

int spill_init(size_t cap)
{
	if (!cap)
		return 0;
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/var/tmp";
	int fd = open_unnamed(dir);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&sp.lock);
	sp.fd = fd;
	sp.cap = cap;
	sp.end = 0;
	pthread_mutex_unlock(&sp.lock);
	return 0;
}

void spill_cleanup(void)
{
	pthread_mutex_lock(&sp.lock);
	if (sp.fd >= 0)
		close(sp.fd);
	sp.fd = -1;
	sp.cap = 0;
	sp.gen++;
	pthread_mutex_unlock(&sp.lock);
}

bool spill_put(const void *data, size_t len, struct spill_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	pthread_mutex_lock(&sp.lock);
	if (sp.fd < 0 || !len || len > sp.cap) {
		pthread_mutex_unlock(&sp.lock);
		return false;
	}
	if ((size_t)sp.end + len > sp.cap) {
		/* Full: start over; what was written is given up at once. */
		sp.end = 0;
		sp.gen++;
		if (ftruncate(sp.fd, 0))
			log_debug("disk cache: truncate failed: %s",
				  strerror(errno));
	}
	off_t off = sp.end;
	sp.end += (off_t)len;
	uint64_t gen = sp.gen;
	int fd = sp.fd;
	/* Written under the lock: a start-over must not overlap a write
	 * still in flight at the front of the file. */
	bool ok = io_all(fd, (char *)data, len, off, true);
	pthread_mutex_unlock(&sp.lock);
	if (!ok) {
		log_debug("disk cache: write failed: %s", strerror(errno));
		return false;
	}
	*ref = (struct spill_ref){ gen, off, len };
	return true;
}

bool spill_valid(const struct spill_ref *ref)
{
	pthread_mutex_lock(&sp.lock);
	bool ok = ref->gen && ref->gen == sp.gen && sp.fd >= 0;
	pthread_mutex_unlock(&sp.lock);
	return ok;
}

struct blob *spill_get(const struct spill_ref *ref)
{
	pthread_mutex_lock(&sp.lock);
	if (!ref->gen || ref->gen != sp.gen || sp.fd < 0) {
		pthread_mutex_unlock(&sp.lock);
		return NULL;
	}
	/* Read straight into the blob: a page comes back with one copy. */
	struct blob *b = blob_alloc(ref->len);
	bool ok = b && io_all(sp.fd, b->data, ref->len, ref->off, false);
	pthread_mutex_unlock(&sp.lock);
	if (!ok) {
		blob_unref(b);
		return NULL;
	}
	return b;
}
