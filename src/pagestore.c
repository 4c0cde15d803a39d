/* pagestore.c - GET responses kept on disk between export runs.
 *
 * Owns DIR/.apisecfs-export/pages/ and the set of paths answered in this
 * run (ps.lock). Calls only the fetch it was given, buf and log; touches
 * nothing outside the directory it was opened on (every call is *at() on
 * its descriptor, never following a link). See pagestore.h.
 *
 * A page file is one header line, then the path, the ETag, the content
 * type and the body, raw, of the lengths the header gives:
 *   "apisecfs-page 1 KEYLEN ETAGLEN TYPELEN BODYLEN\n"
 * Its name is the 64-bit hash of the path in hex; the path inside tells
 * two paths with one hash apart (the second is simply not kept).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <uthash.h>

#include "apisecfs/exportdir.h"
#include "apisecfs/log.h"
#include "apisecfs/pagestore.h"

#define PAGESTORE_DIR "pages"
#define PAGESTORE_MAGIC "apisecfs-page 1 "
/* The header and the path: a request path is at most API_PATH_MAX
 * (1 KiB), the ETag and type fit struct http_resp. */
#define PAGESTORE_HEAD_MAX 2048
#define PAGESTORE_TMP_PREFIX ".tmp-"

/* A path answered in this run, by its hash. */
struct seen {
	uint64_t h;
	char etag[sizeof(((struct http_resp *)0)->etag)];
	UT_hash_handle hh;
};

static struct {
	pthread_mutex_t lock; /* a leaf: no request under it */
	int dirfd;
	cache_fetch_fn next;
	struct seen *seen;	      /* protected by lock */
	unsigned long tmp_counter;    /* protected by lock */
	bool warned;		      /* protected by lock */
	struct pagestore_stats stats; /* protected by lock */
} ps = { .lock = PTHREAD_MUTEX_INITIALIZER, .dirfd = -1 };

static uint64_t key_hash(const char *key)
{
	return buf_hash(key, strlen(key));
}

static void page_name(uint64_t h, char *out, size_t outsz)
{
	snprintf(out, outsz, "%016" PRIx64, h);
}

/* ---- reading ------------------------------------------------------ */

struct stored {
	int fd;
	char etag[sizeof(((struct http_resp *)0)->etag)];
	char type[sizeof(((struct http_resp *)0)->content_type)];
	off_t body_off;
	size_t body_len;
};

static bool take_num(const char **p, const char *end, size_t *out)
{
	char *e;
	if (*p >= end || **p < '0' || **p > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(*p, &e, 10);
	if (errno || e >= end || (*e != ' ' && *e != '\n'))
		return false;
	*out = (size_t)v;
	*p = e + 1;
	return true;
}

/* Open key's page and read its header: 0, or -1 if there is none that
 * is whole and about key. s->fd is then the caller's to close. */
static int stored_open(const char *key, uint64_t h, struct stored *s)
{
	char name[32], head[PAGESTORE_HEAD_MAX];
	struct stat st;
	size_t klen, elen, tlen, blen;
	page_name(h, name, sizeof(name));
	s->fd = openat(ps.dirfd, name,
		       O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (s->fd < 0)
		return -1;
	ssize_t n = fstat(s->fd, &st) || !S_ISREG(st.st_mode)
			    ? -1
			    : pread(s->fd, head, sizeof(head), 0);
	const char *p = head, *end = head + (n > 0 ? n : 0);
	if (n < (ssize_t)strlen(PAGESTORE_MAGIC) ||
	    memcmp(head, PAGESTORE_MAGIC, strlen(PAGESTORE_MAGIC)))
		goto bad;
	p += strlen(PAGESTORE_MAGIC);
	if (!take_num(&p, end, &klen) || !take_num(&p, end, &elen) ||
	    !take_num(&p, end, &tlen) || !take_num(&p, end, &blen) ||
	    p[-1] != '\n' || elen >= sizeof(s->etag) ||
	    tlen >= sizeof(s->type) || blen > HTTP_MAX_BODY ||
	    klen != strlen(key) || (size_t)(end - p) < klen + elen + tlen ||
	    memcmp(p, key, klen))
		goto bad;
	p += klen;
	memcpy(s->etag, p, elen);
	s->etag[elen] = '\0';
	memcpy(s->type, p + elen, tlen);
	s->type[tlen] = '\0';
	s->body_off = (off_t)(p - head) + (off_t)(elen + tlen);
	s->body_len = blen;
	if (st.st_size != s->body_off + (off_t)blen || !s->etag[0])
		goto bad;
	return 0;
bad:
	close(s->fd);
	s->fd = -1;
	return -1;
}

/* The stored body into rs as a 200 answer; false if the file let us
 * down (then rs->body is empty again). */
static bool stored_answer(struct stored *s, struct http_resp *rs)
{
	char chunk[64 * 1024];
	size_t got = 0;
	buf_reset(&rs->body);
	while (got < s->body_len) {
		size_t want = s->body_len - got;
		ssize_t n = pread(s->fd, chunk,
				  want < sizeof(chunk) ? want : sizeof(chunk),
				  s->body_off + (off_t)got);
		if (n <= 0 || buf_append(&rs->body, chunk, (size_t)n)) {
			buf_reset(&rs->body);
			return false;
		}
		got += (size_t)n;
	}
	rs->status = 200;
	snprintf(rs->etag, sizeof(rs->etag), "%s", s->etag);
	snprintf(rs->content_type, sizeof(rs->content_type), "%s", s->type);
	return true;
}

/* ---- writing ------------------------------------------------------ */

/* Write the pieces of a page in one call (a short write goes on where
 * it stopped). Returns 0 or -1 (errno set). */
static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (!w)
				errno = EIO;
			return -1;
		}
		for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
			w -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Keep rs as key's page: a whole new file renamed over the old one, so a
 * run cut short leaves the old page or the new, never half of one.
 * Returns true if it was kept. */
static bool save(const char *key, uint64_t h, const struct http_resp *rs)
{
	char name[32], tmp[64], head[128];
	pthread_mutex_lock(&ps.lock);
	unsigned long seq = ps.tmp_counter++;
	pthread_mutex_unlock(&ps.lock);
	page_name(h, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), PAGESTORE_TMP_PREFIX "%s-%lu", name, seq);
	size_t blen = rs->body.data ? rs->body.len : 0;
	int hl = snprintf(head, sizeof(head),
			  PAGESTORE_MAGIC "%zu %zu %zu %zu\n", strlen(key),
			  strlen(rs->etag), strlen(rs->content_type), blen);
	int fd = openat(ps.dirfd, tmp,
			O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			0600);
	struct iovec iov[] = {
		{ head, hl > 0 ? (size_t)hl : 0 },
		{ (void *)key, strlen(key) },
		{ (void *)rs->etag, strlen(rs->etag) },
		{ (void *)rs->content_type, strlen(rs->content_type) },
		{ rs->body.data ? rs->body.data : "", blen },
	};
	bool ok = fd >= 0 && hl > 0 && (size_t)hl < sizeof(head) &&
		  !write_all(fd, iov, sizeof(iov) / sizeof(iov[0]));
	int err = ok ? 0 : errno;
	if (fd >= 0 && close(fd) && ok) {
		ok = false;
		err = errno;
	}
	if (ok && renameat(ps.dirfd, tmp, ps.dirfd, name)) {
		ok = false;
		err = errno;
	}
	if (!ok) {
		if (fd >= 0)
			unlinkat(ps.dirfd, tmp, 0);
		pthread_mutex_lock(&ps.lock);
		bool first = !ps.warned;
		ps.warned = true;
		pthread_mutex_unlock(&ps.lock);
		/* The export goes on; the next run downloads this page. */
		if (first)
			log_warn("export: cannot keep pages for the next run: "
				 "%s",
				 strerror(err ? err : EIO));
	}
	return ok;
}

/* key (hash h) was answered in this run with ETag etag. */
static void mark_seen(uint64_t h, const char *etag)
{
	struct seen *e;
	pthread_mutex_lock(&ps.lock);
	HASH_FIND(hh, ps.seen, &h, sizeof(h), e);
	if (!e && (e = calloc(1, sizeof(*e)))) {
		e->h = h;
		HASH_ADD(hh, ps.seen, h, sizeof(e->h), e);
	}
	if (e)
		snprintf(e->etag, sizeof(e->etag), "%s", etag);
	pthread_mutex_unlock(&ps.lock);
}

/* ---- fetch -------------------------------------------------------- */

/* Answered already in this run: again from the store, no request. */
static bool answer_again(const char *key, uint64_t h, const char *etag,
			 struct http_resp *rs)
{
	struct seen *e;
	char seen_etag[sizeof(e->etag)];
	pthread_mutex_lock(&ps.lock);
	HASH_FIND(hh, ps.seen, &h, sizeof(h), e);
	if (e)
		memcpy(seen_etag, e->etag, sizeof(seen_etag));
	pthread_mutex_unlock(&ps.lock);
	if (!e)
		return false;
	memset(rs, 0, sizeof(*rs));
	buf_init(&rs->body, HTTP_MAX_BODY);
	rs->retry_after = -1;
	if (etag && strcmp(etag, seen_etag) == 0) {
		rs->status = 304;
		snprintf(rs->etag, sizeof(rs->etag), "%s", etag);
	} else {
		struct stored s;
		if (stored_open(key, h, &s))
			return false;
		bool ok = stored_answer(&s, rs);
		close(s.fd);
		if (!ok)
			return false;
	}
	pthread_mutex_lock(&ps.lock);
	ps.stats.local++;
	pthread_mutex_unlock(&ps.lock);
	return true;
}

static enum api_err ask(const char *key, const char *etag, bool once,
			struct http_resp *rs)
{
	enum api_err result = ps.next(key, etag, once, rs);
	pthread_mutex_lock(&ps.lock);
	ps.stats.requests++;
	if (result == API_E_UNAUTH)
		ps.stats.unauth++;
	pthread_mutex_unlock(&ps.lock);
	return result;
}

enum api_err pagestore_fetch(const char *key, const char *etag, bool once,
			     struct http_resp *rs)
{
	uint64_t h = key_hash(key);
	struct stored s = { .fd = -1 };
	if (answer_again(key, h, etag, rs))
		return API_OK;
	/* The cache's own ETag wins: it holds the bytes that go with it. */
	bool have = !etag && stored_open(key, h, &s) == 0;
	enum api_err result = ask(key,
				  etag	 ? etag
				  : have ? s.etag
					 : NULL,
				  once, rs);
	if (result == API_OK && rs->status == 304 && have) {
		if (stored_answer(&s, rs)) {
			pthread_mutex_lock(&ps.lock);
			ps.stats.not_modified++;
			pthread_mutex_unlock(&ps.lock);
			mark_seen(h, rs->etag);
		} else {
			/* The page went bad under us: ask for the body. */
			http_resp_free(rs);
			result = ask(key, NULL, once, rs);
		}
	}
	if (s.fd >= 0)
		close(s.fd);
	if (result == API_OK && rs->status != 304 && rs->etag[0] &&
	    save(key, h, rs)) {
		pthread_mutex_lock(&ps.lock);
		ps.stats.saved++;
		pthread_mutex_unlock(&ps.lock);
		mark_seen(h, rs->etag);
	} else if (result == API_OK && rs->status == 304 && etag) {
		mark_seen(h, etag);
	}
	return result;
}

/* ---- open, prune, close ------------------------------------------- */

/* Remove the store's files that fail keep (NULL: all of them). */
static int sweep(bool (*keep)(const char *name))
{
	int rc = 0;
	DIR *d = exportdir_fdopen(dup(ps.dirfd), &rc);
	if (!d)
		return rc;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (keep && keep(de->d_name))
			continue;
		if (unlinkat(ps.dirfd, de->d_name, 0) && errno != ENOENT)
			rc = -errno;
	}
	closedir(d);
	return rc;
}

static bool seen_now(const char *name)
{
	char *end;
	if (strlen(name) != 16)
		return false;
	errno = 0;
	uint64_t h = strtoull(name, &end, 16);
	if (errno || *end)
		return false;
	struct seen *e;
	HASH_FIND(hh, ps.seen, &h, sizeof(h), e);
	return e != NULL;
}

static bool not_tmp(const char *name)
{
	return strncmp(name, PAGESTORE_TMP_PREFIX,
		       strlen(PAGESTORE_TMP_PREFIX)) != 0;
}

int pagestore_open(int dirfd, cache_fetch_fn next, bool reset)
{
	if (mkdirat(dirfd, PAGESTORE_DIR, 0700) && errno != EEXIST)
		return -errno;
	ps.dirfd = openat(dirfd, PAGESTORE_DIR,
			  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ps.dirfd < 0)
		return -errno;
	ps.next = next;
	/* A run cut short may have left its temporary files. */
	int rc = sweep(reset ? NULL : not_tmp);
	if (rc)
		pagestore_close();
	return rc;
}

int pagestore_prune(void)
{
	pthread_mutex_lock(&ps.lock);
	int rc = sweep(seen_now);
	pthread_mutex_unlock(&ps.lock);
	return rc;
}

void pagestore_close(void)
{
	struct seen *e, *tmp;
	pthread_mutex_lock(&ps.lock);
	HASH_ITER (hh, ps.seen, e, tmp) {
		HASH_DEL(ps.seen, e);
		free(e);
	}
	if (ps.dirfd >= 0)
		close(ps.dirfd);
	ps.dirfd = -1;
	pthread_mutex_unlock(&ps.lock);
}

void pagestore_get_stats(struct pagestore_stats *out)
{
	pthread_mutex_lock(&ps.lock);
	*out = ps.stats;
	pthread_mutex_unlock(&ps.lock);
}
