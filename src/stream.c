/* stream.c - paged files made on demand from list pages.
 *
 * Owns stream indexes (immutable once built, refcounted) and readers (one
 * per open file, with their own mutex: the kernel may read one descriptor
 * from several threads). Calls api for the pages and log.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/log.h"
#include "apisecfs/stream.h"

struct page {
	char *key;
	size_t off, len;
};

/* Immutable once built, but refs (atomic): readers share it unlocked. */
struct stream {
	int refs; /* atomic */
	stream_item_fn fn;
	struct page *pages;
	size_t n, alloc;
	size_t size;
	uint64_t sig;
};

/* lock protects page and buf, and is held across the page's fetch: taken
 * with no other lock held but treeread.c's slot lock; under it, what a
 * request takes (api, cache, http, auth). s is set once at creation. */
struct stream_reader {
	pthread_mutex_t lock;
	struct stream *s;
	size_t page; /* which page buf holds; SIZE_MAX: none */
	struct buf buf;
};

/* ---- building ----------------------------------------------------- */

/* One page at the end of s's index: its measure is its length. */
static int add_page(const struct api_page_info *pi, void *ud)
{
	struct stream *s = ud;
	if (!pi->has_len)
		return -1; /* unmeasured: only when memory was short */
	if (s->n == s->alloc) {
		size_t na = s->alloc ? s->alloc * 2 : 16;
		struct page *v = realloc(s->pages, na * sizeof(*v));
		if (!v)
			return -1;
		s->pages = v;
		s->alloc = na;
	}
	struct page *p = &s->pages[s->n];
	p->key = strdup(pi->key);
	p->off = s->size;
	p->len = pi->len;
	if (!p->key)
		return -1;
	s->n++;
	s->size += pi->len;
	return 0;
}

int stream_build(const char *const *paths, stream_item_fn fn,
		 stream_len_fn len_fn, struct stream *old, struct stream **out)
{
	struct api_status st = { 0 };
	struct stream *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->refs = 1;
	s->fn = fn;
	s->sig = BUF_HASH_SEED;
	/* The pages' versions and measures: bodies only for pages the cache
	 * has not seen parsed since their list was measured. */
	for (const char *const *p = paths; *p; p++) {
		uint64_t sig;
		enum api_err result =
			api_measure_pages(*p, len_fn)
				? API_E_NOMEM
				: api_list_pages(*p, add_page, s, &sig, &st);
		if (result) {
			stream_unref(s);
			return -errmap_to_errno(result, &st);
		}
		s->sig = buf_hash_continue(s->sig, &sig, sizeof(sig));
	}
	if (old && s->sig == old->sig) {
		stream_unref(s); /* same pages: same bytes, keep the index */
		s = stream_ref(old);
	}
	*out = s;
	return 0;
}

size_t stream_size(const struct stream *s)
{
	return s->size;
}

uint64_t stream_sig(const struct stream *s)
{
	return s->sig;
}

struct stream *stream_ref(struct stream *s)
{
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void stream_unref(struct stream *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->pages[i].key);
	free(s->pages);
	free(s);
}

/* ---- reading ------------------------------------------------------ */

struct stream_reader *stream_reader_new(struct stream *s)
{
	struct stream_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->s = stream_ref(s);
	r->page = SIZE_MAX;
	buf_init(&r->buf, HTTP_MAX_BODY);
	return r;
}

bool stream_reader_on(const struct stream_reader *r, const struct stream *s)
{
	return r->s == s;
}

void stream_reader_free(struct stream_reader *r)
{
	if (!r)
		return;
	stream_unref(r->s);
	buf_free(&r->buf, false);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static int make_item(const cJSON *item, const char *page_key, void *ud)
{
	struct stream_reader *r = ud;
	(void)page_key;
	return r->s->fn(item, &r->buf);
}

/* Make page i's bytes into r->buf (lock held). */
static int make_page(struct stream_reader *r, size_t i)
{
	struct api_status st = { 0 };
	if (r->page == i)
		return 0;
	buf_reset(&r->buf);
	r->page = SIZE_MAX;
	enum api_err result = api_page(r->s->pages[i].key, make_item, r, &st);
	if (result)
		return -errmap_to_errno(result, &st);
	if (r->buf.len != r->s->pages[i].len) {
		/* The page changed since the index was made: offsets no
		 * longer hold. Never hand out a mix of old and new bytes. */
		log_warn("a paged file changed while it was read; reopen it");
		return -EIO;
	}
	r->page = i;
	return 0;
}

/* The page holding offset off (binary search over the page offsets). */
static size_t page_at(const struct stream *s, size_t off)
{
	size_t lo = 0, hi = s->n;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (s->pages[mid].off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int stream_read(struct stream_reader *r, char *out, size_t size, off_t off)
{
	const struct stream *s = r->s;
	size_t done = 0;
	int rc = 0;
	if (off < 0)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	size_t pos = (size_t)off;
	while (done < size && pos < s->size) {
		size_t i = page_at(s, pos);
		if ((rc = make_page(r, i)))
			break;
		size_t in = pos - s->pages[i].off;
		size_t n = s->pages[i].len - in;
		if (n > size - done)
			n = size - done;
		memcpy(out + done, r->buf.data + in, n);
		done += n;
		pos += n;
	}
	pthread_mutex_unlock(&r->lock);
	return done ? (int)done : rc;
}
