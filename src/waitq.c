/* waitq.c - parked reads of waiting control files, and their poller.
 *
 * Owns the parked requests and the awaited objects, all under q.lock; the
 * poller calls the kind's poll with no lock held. Each request is
 * answered exactly once, by whoever takes it off the list under the lock:
 * the poller (done, failed, past the deadline), the interrupt callback
 * (EINTR) or waitq_stop (EIO). The interrupt callback is given a token,
 * not a pointer, so a late interrupt for an answered request finds
 * nothing and touches nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/buf.h"
#include "apisecfs/clock.h"
#include "apisecfs/ctl.h"
#include "apisecfs/kind.h"
#include "apisecfs/log.h"
#include "apisecfs/waitq.h"

/* The API has no long poll: ask from this interval, doubling up to the
 * maximum, and give up with ETIMEDOUT after the deadline so no reader
 * blocks forever. */
#define WAITQ_FIRST_MS 500
#define WAITQ_MAX_MS 5000
#define WAITQ_DEADLINE_MS (6LL * 3600 * 1000)

enum wstate { W_NEW, W_PARKED, W_INTERRUPTED };

struct waiter {
	uint64_t token;
	fuse_req_t req;
	struct ctl_handle *h;
	size_t size;
	enum wstate state;
	struct awaited *obj;
	struct waiter *next;
};

/* One object (a scan) with readers waiting on it. */
struct awaited {
	const struct kind *kind; /* immutable, like id */
	char *id;
	long long next_ms, interval_ms, deadline_ms; /* q.lock */
	bool polling;
	struct awaited *next;
};

/* q.lock protects every field here, in each waiter and each awaited (but
 * its kind and id) but on_done (set once before the poller starts). A
 * leaf: the poller drops it before a request, a reply, ctl_finish (the
 * handle's lock) or on_done (node_lock, notify). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct waiter *waiters; /* parked and being parked */
	struct awaited *objs;
	uint64_t next_token;
	size_t parked;
	bool running, stopping;
	pthread_t thread;
	waitq_done_fn on_done;
} q = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

static bool same_obj(const struct awaited *o, const struct kind *k,
		     const char *id)
{
	return o->kind == k && strcmp(o->id, id ? id : "") == 0;
}

/* Answer a waiter taken off the list: its handle's outcome if known,
 * else err. */
static void answer(struct waiter *w, int err)
{
	if (!err) {
		char *buf = malloc(w->size ? w->size : 1);
		bool acted;
		int rc = buf ? ctl_read(w->h, buf, w->size, 0, &acted)
			     : -ENOMEM;
		if (rc >= 0)
			fuse_reply_buf(w->req, buf, (size_t)rc);
		else
			fuse_reply_err(w->req, -rc);
		free(buf);
	} else {
		fuse_reply_err(w->req, err);
	}
	free(w);
}

/* Lock held: take w off the list. */
static void unlink_locked(struct waiter *w)
{
	for (struct waiter **p = &q.waiters; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	if (w->state == W_PARKED)
		q.parked--;
	w->next = NULL;
}

/* Lock held: drop objects nobody waits on any more. */
static void prune_locked(void)
{
	for (struct awaited **p = &q.objs; *p;) {
		struct awaited *o = *p;
		bool used = o->polling;
		for (struct waiter *w = q.waiters; w && !used; w = w->next)
			used = w->obj == o;
		if (used) {
			p = &o->next;
			continue;
		}
		*p = o->next;
		free(o->id);
		free(o);
	}
}

static void on_interrupt(fuse_req_t req, void *data)
{
	uint64_t token = (uint64_t)(uintptr_t)data;
	struct waiter *w;
	(void)req;
	pthread_mutex_lock(&q.lock);
	for (w = q.waiters; w && w->token != token; w = w->next)
		;
	if (w && w->state == W_NEW) {
		/* Interrupted before it was parked: waitq_park answers. */
		w->state = W_INTERRUPTED;
		w = NULL;
	} else if (w) {
		unlink_locked(w);
		prune_locked();
	}
	pthread_mutex_unlock(&q.lock);
	if (w)
		answer(w, EINTR);
}

int waitq_park(fuse_req_t req, struct ctl_handle *h, size_t size)
{
	const struct kind *k = ctl_kind(h);
	const char *id = ctl_id(h);
	struct waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->req = req;
	w->h = h;
	w->size = size;
	pthread_mutex_lock(&q.lock);
	if (!q.running || q.stopping) {
		pthread_mutex_unlock(&q.lock);
		free(w);
		return -EIO;
	}
	struct awaited *o = q.objs;
	while (o && !same_obj(o, k, id))
		o = o->next;
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o || !(o->id = strdup(id ? id : ""))) {
			free(o);
			pthread_mutex_unlock(&q.lock);
			free(w);
			return -ENOMEM;
		}
		o->kind = k;
		o->interval_ms = WAITQ_FIRST_MS;
		o->next_ms = clock_ms(); /* look at once */
		o->next = q.objs;
		q.objs = o;
	}
	o->deadline_ms = clock_ms() + WAITQ_DEADLINE_MS;
	w->obj = o;
	w->token = ++q.next_token;
	w->next = q.waiters;
	q.waiters = w;
	pthread_mutex_unlock(&q.lock);

	/* Outside the lock: an already interrupted request calls
	 * on_interrupt right here. */
	fuse_req_interrupt_func(req, on_interrupt,
				(void *)(uintptr_t)w->token);

	pthread_mutex_lock(&q.lock);
	int err = w->state == W_INTERRUPTED ? EINTR : q.stopping ? EIO : 0;
	if (err) {
		unlink_locked(w);
		prune_locked();
	} else {
		w->state = W_PARKED;
		q.parked++;
		pthread_cond_signal(&q.wake);
	}
	pthread_mutex_unlock(&q.lock);
	if (err)
		answer(w, err);
	return 0;
}

/* Lock held: take every parked waiter of o off the list. */
static struct waiter *take_waiters_locked(struct awaited *o)
{
	struct waiter *got = NULL, *w = q.waiters;
	while (w) {
		struct waiter *next = w->next;
		if (w->obj == o && w->state == W_PARKED) {
			unlink_locked(w);
			w->next = got;
			got = w;
		}
		w = next;
	}
	return got;
}

/* One look at o (no lock held: o's kind and id are immutable; a reader
 * parking meanwhile moves its deadline, so the caller passes the one it
 * read under the lock); returns true if its waiters are done. */
static bool poll_one(const struct awaited *o, long long deadline_ms, int *rc,
		     struct buf *reply)
{
	struct kind_ctx c = { .id = o->id, .name = "" };
	*rc = o->kind->ctl->poll(&c, reply);
	if (*rc == 0 && clock_ms() >= deadline_ms) {
		log_warn("wait: %s still not finished after %lld s", o->id,
			 WAITQ_DEADLINE_MS / 1000);
		*rc = -ETIMEDOUT;
	}
	return *rc != 0;
}

static void *run(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&q.lock);
	while (!q.stopping) {
		long long now = clock_ms(), next = -1;
		struct awaited *due = NULL;
		for (struct awaited *o = q.objs; o; o = o->next) {
			if (o->polling)
				continue;
			if (o->next_ms <= now && !due)
				due = o;
			else if (next < 0 || o->next_ms < next)
				next = o->next_ms;
		}
		if (!due) {
			if (next < 0) {
				pthread_cond_wait(&q.wake, &q.lock);
			} else {
				clock_cond_timedwait(&q.wake, &q.lock, next);
			}
			continue;
		}
		due->polling = true;
		long long deadline_ms = due->deadline_ms;
		pthread_mutex_unlock(&q.lock);
		struct buf reply;
		int rc;
		buf_init(&reply, 4096);
		bool done = poll_one(due, deadline_ms, &rc, &reply);
		pthread_mutex_lock(&q.lock);
		due->polling = false;
		if (!done) {
			due->next_ms = clock_ms() + due->interval_ms;
			due->interval_ms = due->interval_ms * 2 > WAITQ_MAX_MS
						   ? WAITQ_MAX_MS
						   : due->interval_ms * 2;
			prune_locked();
			buf_free(&reply, false);
			continue;
		}
		struct waiter *got = take_waiters_locked(due);
		prune_locked();
		waitq_done_fn on_done = q.on_done;
		pthread_mutex_unlock(&q.lock);
		if (rc > 0 && on_done)
			on_done();
		while (got) {
			struct waiter *w = got;
			got = w->next;
			ctl_finish(w->h, rc > 0 ? 0 : rc, &reply);
			answer(w, 0);
		}
		buf_free(&reply, false);
		pthread_mutex_lock(&q.lock);
	}
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

int waitq_start(waitq_done_fn on_done)
{
	q.on_done = on_done;
	q.stopping = false;
	if (pthread_create(&q.thread, NULL, run, NULL))
		return -1;
	q.running = true;
	return 0;
}

void waitq_stop(void)
{
	if (!q.running)
		return;
	pthread_mutex_lock(&q.lock);
	q.stopping = true;
	pthread_cond_signal(&q.wake);
	pthread_mutex_unlock(&q.lock);
	pthread_join(q.thread, NULL);
	/* Parked requests are answered here; one being parked right now
	 * is answered by waitq_park, which sees stopping. */
	pthread_mutex_lock(&q.lock);
	struct waiter *got = NULL;
	for (struct waiter *w = q.waiters, *next; w; w = next) {
		next = w->next;
		if (w->state != W_PARKED)
			continue;
		unlink_locked(w);
		w->next = got;
		got = w;
	}
	prune_locked();
	pthread_mutex_unlock(&q.lock);
	while (got) {
		struct waiter *next = got->next;
		answer(got, EIO);
		got = next;
	}
	pthread_mutex_lock(&q.lock);
	q.running = false;
	pthread_mutex_unlock(&q.lock);
}

size_t waitq_parked(void)
{
	pthread_mutex_lock(&q.lock);
	size_t n = q.parked;
	pthread_mutex_unlock(&q.lock);
	return n;
}
