/* events.c - the `events` feed: readers and their bounded queues, parked
 * reads, poll(2) readiness, and the poller thread.
 *
 * Owns the readers, their queues and parked reads, all under ev.lock; the
 * poller makes its requests (api) with no lock held and hands each line
 * to publish(). Lines are refcounted blobs shared by every queue that
 * holds them. Each parked read is answered exactly once, by whoever takes
 * it off the list under the lock: the poller (lines arrived), the
 * interrupt callback (EINTR), events_close (EBADF) or events_stop (EIO).
 * The interrupt callback is given a token, not a pointer, as in waitq.c.
 * Replies and poll notifications are sent with the lock released.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/auth.h"
#include "apisecfs/clock.h"
#include "apisecfs/events.h"
#include "apisecfs/evfeed.h"
#include "apisecfs/json.h"
#include "apisecfs/log.h"

enum wstate { W_NEW, W_PARKED, W_INTERRUPTED };

/* A read parked or being parked; once taken off the list it carries its
 * answer (data, or err) until it is sent with the lock released. */
struct waiter {
	uint64_t token;
	fuse_req_t req;
	size_t size;
	enum wstate state;
	struct reader *r;
	struct waiter *next;
	char *data;
	size_t len;
	int err;
};

struct qline {
	struct blob *line;
	struct qline *next;
};

struct reader {
	struct qline *head, *tail;
	size_t count;	    /* lines queued (an overflow line included) */
	size_t off;	    /* bytes of head already read */
	unsigned long lost; /* lines dropped since the queue was full */
	long long open_ms;
	time_t start; /* platform second the stream starts at */
	bool started; /* start known (the feed has a Date) */
	struct fuse_pollhandle *ph;
	struct reader *next;
};

/* ev.lock protects every field here and in each reader and waiter but o
 * (set once before the poller starts). A leaf, never held across a
 * request, a reply or fuse_lowlevel_notify_poll. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct events_opts o;
	struct reader *readers;
	size_t nreaders;
	struct waiter *waiters; /* parked and being parked, oldest first */
	uint64_t next_token;
	/* The platform's clock: the latest Date and when it came. */
	time_t date;
	long long date_ms;
	bool have_date;
	long long next_poll_ms;
	bool running, stopping;
	pthread_t thread;
} ev = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .wake = PTHREAD_COND_INITIALIZER,
	 .o = { EVENTS_POLL_DEFAULT, EVENTS_QUEUE_DEFAULT } };

void events_init(const struct events_opts *o)
{
	ev.o = *o;
	if (!ev.o.queue_max)
		ev.o.queue_max = 1;
}

bool events_enabled(void)
{
	return ev.o.poll_s > 0;
}

/* ---- queues (lock held) ------------------------------------------- */

static long long floor_div(long long a, long long b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* The platform's time now, by its last Date and the monotonic clock. */
static time_t platform_now_locked(void)
{
	return ev.date + (time_t)floor_div(clock_ms() - ev.date_ms, 1000);
}

static bool push(struct reader *r, struct blob *line)
{
	struct qline *q = malloc(sizeof(*q));
	if (!q)
		return false;
	q->line = blob_ref(line);
	q->next = NULL;
	if (r->tail)
		r->tail->next = q;
	else
		r->head = q;
	r->tail = q;
	r->count++;
	return true;
}

static void pop(struct reader *r)
{
	struct qline *q = r->head;
	r->head = q->next;
	if (!r->head)
		r->tail = NULL;
	r->count--;
	r->off = 0;
	blob_unref(q->line);
	free(q);
}

/* The line that stands for r->lost dropped ones; false if memory is
 * short (then they stay counted). */
static bool push_overflow(struct reader *r)
{
	char ts[32];
	struct buf b;
	evfeed_time_str(platform_now_locked(), ts, sizeof(ts));
	buf_init(&b, 512);
	bool ok = buf_printf(&b,
			     "{\"time\":\"%s\",\"type\":\"overflow\","
			     "\"lost\":%lu,\"queue\":%zu}\n",
			     ts, r->lost, ev.o.queue_max) == 0;
	struct blob *bl = ok ? blob_from_buf(&b) : NULL;
	buf_free(&b, false);
	ok = bl && push(r, bl);
	blob_unref(bl);
	if (ok)
		r->lost = 0;
	return ok;
}

/* A full queue drops lines and counts them; the overflow line goes in
 * before the next line that fits, so the stream shows where the gap is.
 * The overflow line may take one place beyond queue_max. */
static void enqueue(struct reader *r, struct blob *line)
{
	if (r->count >= ev.o.queue_max) {
		if (!r->lost)
			log_warn("events: a reader has %zu lines unread; "
				 "dropping lines until it reads",
				 ev.o.queue_max);
		r->lost++;
		return;
	}
	if (r->lost && !push_overflow(r)) {
		r->lost++;
		return;
	}
	if (!push(r, line))
		r->lost++;
}

static bool readable(const struct reader *r)
{
	return r->head || r->lost;
}

/* Copy whole lines, as many as fit in size; a line longer than size
 * comes in pieces (bash's read takes a byte at a time). */
static size_t serve(struct reader *r, char *out, size_t size)
{
	size_t n = 0;
	if (!r->head && r->lost)
		push_overflow(r); /* all read: say now what was lost */
	while (r->head && n < size) {
		const struct blob *b = r->head->line;
		size_t avail = b->len - r->off;
		if (avail <= size - n) {
			memcpy(out + n, b->data + r->off, avail);
			n += avail;
			pop(r);
		} else {
			if (n == 0) {
				memcpy(out, b->data + r->off, size);
				r->off += size;
				n = size;
			}
			break;
		}
	}
	return n;
}

static void free_queue(struct reader *r)
{
	while (r->head)
		pop(r);
}

/* ---- parked reads ------------------------------------------------- */

static void unlink_waiter(struct waiter *w)
{
	for (struct waiter **p = &ev.waiters; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	w->next = NULL;
}

/* Lock held: w, taken off the list, gets its answer: err, or lines
 * served from its reader. */
static struct waiter *answer_of(struct waiter *w, int err)
{
	w->err = err;
	if (!err && !(w->data = malloc(w->size ? w->size : 1)))
		w->err = ENOMEM;
	if (!w->err)
		w->len = serve(w->r, w->data, w->size);
	return w;
}

/* Send the answers of a list of waiters and free them (no lock held). */
static void send_answers(struct waiter *w)
{
	while (w) {
		struct waiter *next = w->next;
		if (w->err)
			fuse_reply_err(w->req, w->err);
		else
			fuse_reply_buf(w->req, w->data, w->len);
		free(w->data);
		free(w);
		w = next;
	}
}

static void on_interrupt(fuse_req_t req, void *data)
{
	uint64_t token = (uint64_t)(uintptr_t)data;
	struct waiter *w, *a = NULL;
	(void)req;
	pthread_mutex_lock(&ev.lock);
	for (w = ev.waiters; w && w->token != token; w = w->next)
		;
	if (w && w->state == W_NEW) {
		w->state = W_INTERRUPTED; /* events_read answers */
	} else if (w) {
		unlink_waiter(w);
		a = answer_of(w, EINTR);
	}
	pthread_mutex_unlock(&ev.lock);
	send_answers(a);
}

/* Lock held: answer the parked reads of readers that have lines, and
 * take the poll handles to notify. */
static struct waiter *wake_locked(struct fuse_pollhandle ***phs, size_t *nph)
{
	struct waiter *got = NULL, **tail = &got;
	for (struct waiter **p = &ev.waiters; *p;) {
		struct waiter *w = *p;
		if (w->state != W_PARKED || !readable(w->r)) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		w->next = NULL;
		*tail = answer_of(w, 0);
		tail = &w->next;
	}
	size_t n = 0;
	for (struct reader *r = ev.readers; r; r = r->next)
		n += r->ph && readable(r);
	*phs = n ? calloc(n, sizeof(**phs)) : NULL;
	*nph = 0;
	for (struct reader *r = ev.readers; *phs && r; r = r->next)
		if (r->ph && readable(r)) {
			(*phs)[(*nph)++] = r->ph;
			r->ph = NULL;
		}
	return got;
}

static void wake(void)
{
	struct fuse_pollhandle **phs;
	size_t nph;
	pthread_mutex_lock(&ev.lock);
	struct waiter *a = wake_locked(&phs, &nph);
	pthread_mutex_unlock(&ev.lock);
	send_answers(a);
	for (size_t i = 0; i < nph; i++) {
		fuse_lowlevel_notify_poll(phs[i]);
		fuse_pollhandle_destroy(phs[i]);
	}
	free(phs);
}

void events_read(void *reader, fuse_req_t req, size_t size, bool nonblock)
{
	struct reader *r = reader;
	struct waiter *w = calloc(1, sizeof(*w)), *a = NULL;
	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	w->req = req;
	w->size = size;
	w->r = r;
	pthread_mutex_lock(&ev.lock);
	if (ev.stopping || readable(r) || nonblock || !size) {
		int err = ev.stopping		 ? EIO
			  : readable(r) || !size ? 0
						 : EAGAIN;
		a = answer_of(w, err);
		pthread_mutex_unlock(&ev.lock);
		send_answers(a);
		return;
	}
	w->token = ++ev.next_token;
	struct waiter **p = &ev.waiters;
	while (*p)
		p = &(*p)->next;
	*p = w;
	uint64_t token = w->token;
	pthread_mutex_unlock(&ev.lock);

	/* Outside the lock: an already interrupted request calls
	 * on_interrupt right here. */
	fuse_req_interrupt_func(req, on_interrupt, (void *)(uintptr_t)token);

	pthread_mutex_lock(&ev.lock);
	if (w->state == W_INTERRUPTED || ev.stopping || readable(r)) {
		unlink_waiter(w);
		a = answer_of(w, w->state == W_INTERRUPTED ? EINTR
				 : ev.stopping		   ? EIO
							   : 0);
	} else {
		w->state = W_PARKED;
	}
	pthread_mutex_unlock(&ev.lock);
	send_answers(a);
}

unsigned events_poll(void *reader, struct fuse_pollhandle *ph)
{
	struct reader *r = reader;
	struct fuse_pollhandle *old = NULL;
	pthread_mutex_lock(&ev.lock);
	unsigned mask = readable(r) ? POLLIN | POLLRDNORM : 0;
	if (ev.stopping)
		mask |= POLLERR;
	if (ph) {
		old = r->ph;
		r->ph = ph;
	}
	pthread_mutex_unlock(&ev.lock);
	if (old)
		fuse_pollhandle_destroy(old);
	return mask;
}

/* ---- readers ------------------------------------------------------ */

/* Lock held: the stream of r starts at the platform second it opened in
 * (the Date truncates, so this errs early: nothing after it is lost). */
static void start_locked(struct reader *r)
{
	r->start = ev.date + (time_t)floor_div(r->open_ms - ev.date_ms, 1000);
	r->started = true;
}

int events_open(void **out)
{
	*out = NULL;
	if (!events_enabled())
		return -ENOENT;
	if (!auth_has_scope("scans:read") && !auth_has_scope("vulns:read"))
		return -EACCES;
	struct reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->open_ms = clock_ms();
	pthread_mutex_lock(&ev.lock);
	if (ev.have_date)
		start_locked(r);
	r->next = ev.readers;
	ev.readers = r;
	if (ev.nreaders++ == 0)
		pthread_cond_signal(&ev.wake); /* a session begins */
	pthread_mutex_unlock(&ev.lock);
	*out = r;
	return 0;
}

void events_close(void *reader)
{
	struct reader *r = reader;
	struct waiter *got = NULL;
	if (!r)
		return;
	pthread_mutex_lock(&ev.lock);
	for (struct reader **p = &ev.readers; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			ev.nreaders--;
			break;
		}
	for (struct waiter **p = &ev.waiters; *p;) {
		struct waiter *w = *p;
		if (w->r != r || w->state != W_PARKED) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		w->next = got;
		got = answer_of(w, EBADF);
	}
	if (!ev.nreaders)
		pthread_cond_signal(&ev.wake); /* the session ends */
	free_queue(r);
	struct fuse_pollhandle *ph = r->ph;
	pthread_mutex_unlock(&ev.lock);
	send_answers(got);
	if (ph)
		fuse_pollhandle_destroy(ph);
	free(r);
}

size_t events_readers(void)
{
	pthread_mutex_lock(&ev.lock);
	size_t n = ev.nreaders;
	pthread_mutex_unlock(&ev.lock);
	return n;
}

/* ---- the poller --------------------------------------------------- */

/* A Date from the platform: the clock readers' starts are taken by. */
static void note_date(time_t date)
{
	pthread_mutex_lock(&ev.lock);
	if (!ev.have_date || date >= ev.date) {
		ev.date = date;
		ev.date_ms = clock_ms();
		ev.have_date = true;
	}
	for (struct reader *r = ev.readers; r; r = r->next)
		if (!r->started)
			start_locked(r);
	pthread_mutex_unlock(&ev.lock);
}

/* evfeed's emit: the line goes to every reader whose stream had begun
 * by time t. */
static int publish(struct blob *line, time_t t, void *ud)
{
	(void)ud;
	pthread_mutex_lock(&ev.lock);
	for (struct reader *r = ev.readers; r; r = r->next)
		if (r->started && t >= r->start)
			enqueue(r, line);
	pthread_mutex_unlock(&ev.lock);
	blob_unref(line);
	return 0;
}

/* Every page of list l's changes; the mark moves only if all came. */
static int walk(struct evfeed *f, enum evfeed_list l, const char *base)
{
	char path[API_PATH_MAX];
	char *next = NULL;
	time_t first = 0;
	int rc = 0;
	for (int page = 0;; page++) {
		cJSON *body;
		time_t date;
		struct api_status st;
		if (!events_readers()) {
			rc = -ECANCELED; /* the last reader left: no request */
			break;
		}
		if (evfeed_query(f, l, base, next, path, sizeof(path))) {
			rc = -EIO;
			break;
		}
		free(next);
		next = NULL;
		enum api_err result = api_get_dated(path, &body, &date, &st);
		if (result) {
			rc = -errmap_to_errno(result, &st);
			break;
		}
		note_date(date);
		if (page == 0)
			first = date;
		const cJSON *items =
			cJSON_GetObjectItemCaseSensitive(body, "items");
		const cJSON *it;
		if (!cJSON_IsArray(items))
			rc = -EIO;
		cJSON_ArrayForEach (it, items) {
			if (rc || (rc = evfeed_item(f, l, it, publish, NULL)))
				break;
		}
		const char *nt = json_str(body, "nextToken");
		if (!rc && nt && *nt && !(next = strdup(nt)))
			rc = -ENOMEM;
		cJSON_Delete(body);
		if (rc || !next)
			break;
	}
	free(next);
	if (!rc)
		evfeed_done(f, l, first);
	return rc;
}

/* One poll: the scans, then the findings (a scan's completion comes
 * before its findings), each only if the credential may list them. */
static int poll_once(struct evfeed *f)
{
	int rc = 0, r2 = 0;
	if (auth_has_scope("scans:read"))
		rc = walk(f, EVFEED_SCANS, "/v1/scans");
	if (auth_has_scope("vulns:read"))
		r2 = walk(f, EVFEED_VULNS, "/v1/vulnerabilities");
	return rc ? rc : r2;
}

/* The platform's Date when a session begins: the streams start there. */
static int baseline(struct evfeed *f)
{
	cJSON *me;
	time_t date;
	struct api_status st;
	enum api_err result = api_get_dated("/v1/me", &me, &date, &st);
	cJSON_Delete(me);
	if (result)
		return -errmap_to_errno(result, &st);
	note_date(date);
	evfeed_begin(f, date);
	return 0;
}

static void *run(void *arg)
{
	struct evfeed *feed = NULL; /* this session's, NULL between them */
	bool begun = false, failing = false;
	(void)arg;
	pthread_mutex_lock(&ev.lock);
	while (!ev.stopping) {
		if (!ev.nreaders) {
			/* No reader, no request; the next one starts anew. */
			evfeed_free(feed);
			feed = NULL;
			begun = false;
			ev.have_date = false;
			ev.next_poll_ms = 0;
			pthread_cond_wait(&ev.wake, &ev.lock);
			continue;
		}
		long long now = clock_ms();
		if (now < ev.next_poll_ms) {
			clock_cond_timedwait(&ev.wake, &ev.lock,
					     ev.next_poll_ms);
			continue;
		}
		ev.next_poll_ms = now + ev.o.poll_s * 1000LL;
		pthread_mutex_unlock(&ev.lock);
		int rc = -ENOMEM;
		if (!feed)
			feed = evfeed_new();
		if (feed && !begun)
			begun = (rc = baseline(feed)) == 0;
		else if (feed)
			rc = poll_once(feed);
		if (rc == -ECANCELED)
			rc = 0; /* not a failure: nobody reads any more */
		if (rc && !failing)
			log_warn("events: asking the platform what changed "
				 "failed (%s); trying again every %u s",
				 strerror(-rc), ev.o.poll_s);
		else if (!rc && failing)
			log_info("events: the platform answers again");
		failing = rc != 0;
		wake();
		pthread_mutex_lock(&ev.lock);
	}
	pthread_mutex_unlock(&ev.lock);
	evfeed_free(feed);
	return NULL;
}

int events_start(void)
{
	if (!events_enabled())
		return 0;
	ev.stopping = false;
	if (pthread_create(&ev.thread, NULL, run, NULL))
		return -1;
	ev.running = true;
	return 0;
}

void events_stop(void)
{
	struct waiter *got = NULL;
	pthread_mutex_lock(&ev.lock);
	ev.stopping = true;
	pthread_cond_signal(&ev.wake);
	pthread_mutex_unlock(&ev.lock);
	if (ev.running)
		pthread_join(ev.thread, NULL);
	ev.running = false;
	/* Parked reads are answered here; one being parked right now is
	 * answered by events_read, which sees stopping. */
	pthread_mutex_lock(&ev.lock);
	for (struct waiter **p = &ev.waiters; *p;) {
		struct waiter *w = *p;
		if (w->state != W_PARKED) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		w->next = got;
		got = answer_of(w, EIO);
	}
	pthread_mutex_unlock(&ev.lock);
	send_answers(got);
}
