/* ctl.c - control-file handles: exactly-once actions behind write(2).
 *
 * Owns the handles; each is guarded by its own mutex because the kernel
 * may send write, flush and read for one descriptor from several threads.
 * Lock order: the handle's mutex is a leaf, taken with no other lock
 * held (the waitq poller drops its own before ctl_finish) and never held
 * across the action's requests: an action may wait hours (a scan's
 * wait), and a close of a dup of the descriptor must not wait with it.
 * Calls the kind's ctl_ops (restab's res_*.c); never logs input or
 * replies (a reply may be a token's secret).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "apisecfs/auth.h"
#include "apisecfs/buf.h"
#include "apisecfs/ctl.h"
#include "apisecfs/log.h"

/* Set once at open: kind, ino, name, id, ctx, obj, opener, path, append,
 * stream (its own state has its own lock), idem_key. The rest: lock,
 * except that while busy the acting thread alone uses in, reply and
 * act_rc without it (everyone else sees acted and keeps off them). */
struct ctl_handle {
	pthread_mutex_t lock;
	pthread_cond_t idle; /* broadcast when busy clears */
	const struct kind *kind;
	fuse_ino_t ino;
	char *name, *id, *ctx;
	struct blob *obj;
	struct buf in;
	struct buf reply;
	size_t rpos; /* how much of the reply was read */
	bool acted;  /* the action ran or is running (successfully or not) */
	bool busy;   /* it is running now, with the lock released */
	bool failed; /* a write was refused: nothing is ever sent */
	bool append; /* opened O_APPEND: offsets are the kernel's guess */
	int act_rc;
	pid_t opener; /* thread group that opened it; 0: unknown */
	char *path;   /* where the opener sees the file (its /proc/PID/fd) */
	void *stream; /* a stream's per-open state (ctl_ops stream_open) */
	char idem_key[40];
};

/* Does the opener still hold a descriptor of this file? FLUSH comes at
 * every close(2), of a dup (bash's `cmd >&3` for a builtin) or of an
 * inherited copy (a child's exit), and names the closer by neither pid
 * (it is 0) nor anything OPEN named, so the opener's own descriptor
 * table is the one thing to ask. Unreadable (gone, or another user's
 * process): no. */
static bool opener_holds(const struct ctl_handle *h)
{
	char dir[40], target[PATH_MAX];
	bool holds = false;
	if (h->opener <= 0 || !h->path)
		return false;
	snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)h->opener);
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t plen = strlen(h->path);
	while (d && !holds && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		ssize_t n = readlinkat(dirfd(d), de->d_name, target,
				       sizeof(target));
		holds = n == (ssize_t)plen &&
			memcmp(target, h->path, plen) == 0;
	}
	if (d)
		closedir(d);
	return holds;
}

static void mint_key(char *out, size_t outsz)
{
	unsigned char r[16];
	static const char hex[] = "0123456789abcdef";
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* Uniqueness per handle is what matters; fall back to time
		 * and address, which never repeat within 24 hours. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(out, outsz, "t%lx%lx%lx", (long)ts.tv_sec, ts.tv_nsec,
			 (long)(uintptr_t)out);
		return;
	}
	size_t o = 0;
	for (size_t i = 0; i < sizeof(r) && o + 2 < outsz; i++) {
		out[o++] = hex[r[i] >> 4];
		out[o++] = hex[r[i] & 15];
	}
	out[o] = '\0';
}

int ctl_open(const struct kind *k, const struct kind_ctx *c, int flags,
	     pid_t opener, const char *path, struct ctl_handle **out)
{
	int acc = flags & O_ACCMODE;
	const struct ctl_ops *ops = k->ctl;
	*out = NULL;
	if (ops->blocking_read) {
		if (acc != O_RDONLY)
			return -EACCES;
		if (k->scope && !auth_has_scope(k->scope))
			return -EACCES;
	} else if (acc != O_RDONLY) {
		/* Read-only opens are allowed and read as empty, so grep -r
		 * and friends walking the tree see no error. */
		if (acc == O_RDWR && !ops->readable)
			return -EACCES;
		if (k->write_scope && !auth_has_scope(k->write_scope)) {
			log_info("%s: the credential lacks %s", c->name,
				 k->write_scope);
			return -EACCES;
		}
	}
	struct ctl_handle *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->idle, NULL);
	h->kind = k;
	h->ino = c->ino;
	h->name = strdup(c->name ? c->name : "");
	h->id = c->id ? strdup(c->id) : NULL;
	h->ctx = c->ctx ? strdup(c->ctx) : NULL;
	h->obj = blob_ref(c->obj);
	h->opener = opener;
	h->path = path ? strdup(path) : NULL;
	h->append = (flags & O_APPEND) != 0;
	buf_init(&h->in, CTL_INPUT_MAX);
	buf_init(&h->reply, CTL_INPUT_MAX);
	mint_key(h->idem_key, sizeof(h->idem_key));
	if (!h->name || (c->id && !h->id) || (c->ctx && !h->ctx) ||
	    (path && !h->path)) {
		ctl_close(h);
		return -ENOMEM;
	}
	if (ops->stream_open) {
		int rc = ops->stream_open(&h->stream);
		if (rc) {
			ctl_close(h);
			return rc;
		}
	}
	*out = h;
	return 0;
}

/* Run the action: the handle's lock is held at entry and exit, and
 * released across the action's requests. Meanwhile acted is already
 * true, so a write is refused (one action per open file), a flush (a
 * dup's close) returns at once, ctl_finish keeps off; a read or the
 * release waits on idle for the outcome. */
static int act(struct ctl_handle *h, bool *acted)
{
	struct kind_ctx c = { .ino = h->ino,
			      .name = h->name,
			      .id = h->id,
			      .ctx = h->ctx,
			      .obj = h->obj };
	h->acted = true;
	h->busy = true;
	pthread_mutex_unlock(&h->lock);
	int rc = h->kind->ctl->act(&c, h->in.data ? h->in.data : "", h->in.len,
				   h->idem_key, &h->reply);
	pthread_mutex_lock(&h->lock);
	h->act_rc = rc;
	if (rc == 0)
		*acted = true;
	else
		buf_free(&h->reply, true);
	h->busy = false;
	pthread_cond_broadcast(&h->idle);
	return rc;
}

/* Lock held: wait out an action running on another thread. */
static void wait_idle(struct ctl_handle *h)
{
	while (h->busy)
		pthread_cond_wait(&h->idle, &h->lock);
}

int ctl_write(struct ctl_handle *h, const char *data, size_t len, off_t off,
	      bool *acted)
{
	int rc;
	*acted = false;
	pthread_mutex_lock(&h->lock);
	if (h->acted || h->failed || h->kind->ctl->blocking_read) {
		rc = -EINVAL; /* one action per open file */
	} else if (!h->append && off >= 0 && (size_t)off != h->in.len &&
		   off != 0) {
		/* Only appending writes make sense here. With O_APPEND the
		 * kernel puts each write at the size it believes the file
		 * has, which grows with every earlier open's input. */
		rc = -EINVAL;
	} else if (memchr(data, '\0', len)) {
		rc = -EINVAL; /* text and JSON have no NUL: truncated input */
	} else if (buf_append(&h->in, data, len)) {
		rc = -EFBIG;
	} else if (h->kind->ctl->complete(h->in.data, h->in.len)) {
		rc = act(h, acted);
		if (rc == 0)
			rc = (int)len;
	} else {
		rc = (int)len;
	}
	if (rc < 0 && !h->acted && !h->failed) {
		/* Whatever came before is not the whole input: drop it, so
		 * a later close sends nothing. */
		h->failed = true;
		buf_free(&h->in, true);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int ctl_flush(struct ctl_handle *h, bool release, bool *acted)
{
	int rc = 0;
	*acted = false;
	pthread_mutex_lock(&h->lock);
	/* The input ends when the opener holds no descriptor of the file any
	 * more (its last close), or at the release of the last descriptor
	 * anywhere: not when a child that inherited one exits, nor when a
	 * dup is closed. An action running on another thread (a write that
	 * completed the input) is that thread's to report: a close returns
	 * at once. The release must wait for it, as the handle is freed
	 * next (the kernel sends RELEASE after the write returned anyway). */
	if (!h->acted && !h->failed && h->in.len &&
	    !h->kind->ctl->blocking_read && (release || !opener_holds(h)))
		rc = act(h, acted);
	if (release)
		wait_idle(h);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int ctl_read(struct ctl_handle *h, char *out, size_t size, off_t off,
	     bool *acted)
{
	int rc = 0;
	*acted = false;
	pthread_mutex_lock(&h->lock);
	wait_idle(h); /* the reply of an action running on another thread */
	if (h->kind->ctl->stream_read)
		rc = -EINVAL; /* ctl_stream_read answers streams */
	else if (h->kind->ctl->blocking_read && !h->acted &&
		 h->kind->ctl->poll)
		rc = -EINPROGRESS;
	else if (h->kind->ctl->blocking_read && !h->acted)
		rc = act(h, acted);
	else if (h->acted && h->act_rc)
		rc = h->act_rc;
	/* The reply reads like a pipe, from where the last read ended: the
	 * descriptor's offset sits after what was written (exec 3<>file;
	 * echo x >&3; read id <&3). */
	(void)off;
	if (rc == 0 && h->rpos < h->reply.len) {
		size_t n = h->reply.len - h->rpos;
		if (n > size)
			n = size;
		memcpy(out, h->reply.data + h->rpos, n);
		h->rpos += n;
		rc = (int)n;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void ctl_close(struct ctl_handle *h)
{
	if (!h)
		return;
	if (h->stream)
		h->kind->ctl->stream_close(h->stream);
	buf_free(&h->in, true);
	buf_free(&h->reply, true);
	free(h->name);
	free(h->path);
	free(h->id);
	free(h->ctx);
	blob_unref(h->obj);
	pthread_cond_destroy(&h->idle);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

const struct kind *ctl_kind(const struct ctl_handle *h)
{
	return h->kind;
}

const char *ctl_id(const struct ctl_handle *h)
{
	return h->id;
}

void ctl_finish(struct ctl_handle *h, int rc, const struct buf *reply)
{
	pthread_mutex_lock(&h->lock);
	if (!h->acted) {
		h->acted = true;
		h->act_rc = rc;
		if (!rc && reply->len &&
		    buf_append(&h->reply, reply->data, reply->len))
			h->act_rc = -ENOMEM;
	}
	pthread_mutex_unlock(&h->lock);
}

bool ctl_is_stream(const struct ctl_handle *h)
{
	return h->stream != NULL;
}

bool ctl_stream_read(struct ctl_handle *h, fuse_req_t req, size_t size,
		     bool nonblock)
{
	if (!h->stream)
		return false;
	h->kind->ctl->stream_read(h->stream, req, size, nonblock);
	return true;
}

bool ctl_stream_poll(struct ctl_handle *h, struct fuse_pollhandle *ph,
		     unsigned *revents)
{
	if (!h->stream)
		return false;
	*revents = h->kind->ctl->stream_poll(h->stream, ph);
	return true;
}
