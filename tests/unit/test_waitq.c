/* test_waitq.c - the poller of parked waits on the fake clock: one look
 * at once, then every 0.5 s doubling to 5 s however many readers wait,
 * every reader answered once when the object is done, ETIMEDOUT after the
 * 6 h deadline, EINTR for a read interrupted before it was parked.
 * waitq.c is linked alone: this file stands in for libfuse's reply calls
 * (it records them) and for ctl.c's handle (kind, id, outcome). The
 * poller's timed waits move the fake clock (clock_set_advance), so six
 * hours of polling take milliseconds and nothing sleeps. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/buf.h"
#include "apisecfs/clock.h"
#include "apisecfs/ctl.h"
#include "apisecfs/kind.h"
#include "apisecfs/waitq.h"
#include "check.h"

static long long now_ms = 1767225600000LL;

static long long fake_clock(void)
{
	return __atomic_load_n(&now_ms, __ATOMIC_RELAXED);
}

static void fake_advance(long long ms)
{
	__atomic_add_fetch(&now_ms, ms, __ATOMIC_RELAXED);
}

/* ---- libfuse's side: requests and their one answer ----------------- */

struct fuse_req {
	bool interrupted; /* before it is parked: the callback runs at once */
	int answers;
	int err;	 /* fuse_reply_err's, or 0 */
	char got[64];	 /* fuse_reply_buf's bytes */
	long long at_ms; /* when answered (fake time) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

static void answered(fuse_req_t req, int err, const char *b, size_t n)
{
	pthread_mutex_lock(&lock);
	req->answers++;
	req->err = err;
	snprintf(req->got, sizeof(req->got), "%.*s", (int)n, b);
	req->at_ms = clock_ms();
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}

int fuse_reply_buf(fuse_req_t req, const char *buf, size_t size)
{
	answered(req, 0, buf, size);
	return 0;
}

int fuse_reply_err(fuse_req_t req, int err)
{
	answered(req, err, "", 0);
	return 0;
}

void fuse_req_interrupt_func(fuse_req_t req, fuse_interrupt_func_t func,
			     void *data)
{
	if (req->interrupted)
		func(req, data);
}

/* Wait (no timeout: a hang is the failure) until req is answered. */
static void wait_answer(fuse_req_t req)
{
	pthread_mutex_lock(&lock);
	while (!req->answers)
		pthread_cond_wait(&changed, &lock);
	pthread_mutex_unlock(&lock);
}

/* ---- ctl.c's side: a handle's kind, id and outcome ------------------ */

struct ctl_handle {
	const struct kind *kind;
	const char *id;
	bool finished;
	int rc;
	char reply[64];
};

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
	if (h->finished)
		return;
	h->finished = true;
	h->rc = rc;
	snprintf(h->reply, sizeof(h->reply), "%.*s", (int)reply->len,
		 reply->data ? reply->data : "");
}

int ctl_read(struct ctl_handle *h, char *out, size_t size, off_t off,
	     bool *acted)
{
	(void)off;
	*acted = false;
	if (!h->finished)
		return -EINPROGRESS;
	if (h->rc)
		return h->rc;
	size_t n = strlen(h->reply) < size ? strlen(h->reply) : size;
	memcpy(out, h->reply, n);
	return (int)n;
}

/* ---- the kind: a scan that ends at its polls-th look ---------------- */

static struct {
	int polls, done_at; /* done_at 0: never */
	long long at[16];   /* fake time of the first looks */
	bool gate_shut;	    /* the first look waits for the gate */
	bool in_first;
	int dones; /* on_done calls */
} k;

static int poll_scan(const struct kind_ctx *c, struct buf *reply)
{
	(void)c;
	pthread_mutex_lock(&lock);
	if (k.polls < 16)
		k.at[k.polls] = clock_ms();
	int n = ++k.polls;
	k.in_first = n == 1;
	pthread_cond_broadcast(&changed);
	while (n == 1 && k.gate_shut)
		pthread_cond_wait(&changed, &lock);
	bool done = k.done_at && n >= k.done_at;
	pthread_mutex_unlock(&lock);
	if (!done)
		return 0;
	return buf_printf(reply, "Completed\n") ? -ENOMEM : 1;
}

static const struct ctl_ops wait_ops = { .poll = poll_scan,
					 .blocking_read = true };
static const struct kind wait_kind = { .name = "wait",
				       .type = KIND_CTL,
				       .ctl = &wait_ops };

static void on_done(void)
{
	pthread_mutex_lock(&lock);
	k.dones++;
	pthread_mutex_unlock(&lock);
}

static void reset(int done_at, bool gate)
{
	pthread_mutex_lock(&lock);
	memset(&k, 0, sizeof(k));
	k.done_at = done_at;
	k.gate_shut = gate;
	pthread_mutex_unlock(&lock);
}

int main(void)
{
	clock_set_source(fake_clock);
	clock_set_advance(fake_advance);
	CHECK(waitq_start(on_done) == 0);

	/* Three readers of one scan: looked at once, then after 0.5, 1, 2,
	 * 4, 5, 5 s; one look each time for all three; done at the 7th. */
	struct ctl_handle h1 = { &wait_kind, "scan1", false, 0, "" };
	struct ctl_handle h2 = h1, h3 = h1;
	struct fuse_req r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	reset(7, true);
	long long t0 = clock_ms();
	CHECK(waitq_park(&r1, &h1, 64) == 0);
	pthread_mutex_lock(&lock); /* the first look is under way */
	while (!k.in_first)
		pthread_cond_wait(&changed, &lock);
	pthread_mutex_unlock(&lock);
	CHECK(waitq_park(&r2, &h2, 64) == 0);
	CHECK(waitq_park(&r3, &h3, 64) == 0);
	CHECK(waitq_parked() == 3);
	pthread_mutex_lock(&lock);
	k.gate_shut = false;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
	wait_answer(&r1);
	wait_answer(&r2);
	wait_answer(&r3);
	static const long long want[] = { 0,	500,   1500, 3500,
					  7500, 12500, 17500 };
	CHECK(k.polls == 7);
	for (int i = 0; i < 7; i++)
		CHECK(k.at[i] - t0 == want[i]);
	CHECK(r1.answers == 1 && r2.answers == 1 && r3.answers == 1);
	CHECK(strcmp(r1.got, "Completed\n") == 0 &&
	      strcmp(r3.got, "Completed\n") == 0);
	CHECK(r2.at_ms - t0 == 17500);
	CHECK(k.dones == 1 && waitq_parked() == 0);

	/* A scan that never ends: ETIMEDOUT 6 h after the read parked, at
	 * the first look past it (5 s apart by then). */
	struct ctl_handle h4 = { &wait_kind, "scan2", false, 0, "" };
	struct fuse_req r4 = { 0 };
	reset(0, false);
	t0 = clock_ms();
	CHECK(waitq_park(&r4, &h4, 64) == 0);
	wait_answer(&r4);
	long long six_h = 6LL * 3600 * 1000;
	CHECK(r4.answers == 1 && r4.err == ETIMEDOUT);
	CHECK(r4.at_ms - t0 >= six_h && r4.at_ms - t0 < six_h + 5000);
	CHECK(k.polls > 4000 && k.polls < 4400); /* 6 h at 5 s */
	CHECK(k.dones == 0 && h4.rc == -ETIMEDOUT);

	/* Interrupted before it was parked: EINTR at once, no look. */
	struct ctl_handle h5 = { &wait_kind, "scan3", false, 0, "" };
	struct fuse_req r5 = { .interrupted = true };
	reset(1, false);
	CHECK(waitq_park(&r5, &h5, 64) == 0);
	CHECK(r5.answers == 1 && r5.err == EINTR && waitq_parked() == 0);

	waitq_stop();
	/* Stopped: a new read is refused (the caller answers it). */
	struct fuse_req r6 = { 0 };
	CHECK(waitq_park(&r6, &h5, 64) == -EIO && r6.answers == 0);
	return check_report("test_waitq");
}
