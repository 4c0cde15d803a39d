/* linktab.c - packed symlink tables for the link views. A leaf. */
#include <stdlib.h>
#include <string.h>

#include "apisecfs/buf.h"
#include "apisecfs/linktab.h"

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct linkent *)a)->name,
		      ((const struct linkent *)b)->name);
}

static int by_hash(const void *a, const void *b, void *table)
{
	const struct linkent *v = ((const struct linktab *)table)->v;
	uint32_t x = v[*(const uint32_t *)a].hash;
	uint32_t y = v[*(const uint32_t *)b].hash;
	return x < y ? -1 : x > y;
}

/* Hash every name, index the table by hash and mark shared hashes. */
static int index_by_hash(struct linktab *t)
{
	t->by_hash = malloc(t->n * sizeof(*t->by_hash));
	if (!t->by_hash)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		uint64_t h = buf_hash(t->v[i].name, strlen(t->v[i].name));
		t->v[i].hash = (uint32_t)(h ^ (h >> 32));
		t->v[i].hash_shared = false;
		t->by_hash[i] = (uint32_t)i;
	}
	qsort_r(t->by_hash, t->n, sizeof(*t->by_hash), by_hash, t);
	for (size_t i = 1; i < t->n; i++) {
		struct linkent *a = &t->v[t->by_hash[i - 1]];
		struct linkent *b = &t->v[t->by_hash[i]];
		if (a->hash == b->hash)
			a->hash_shared = b->hash_shared = true;
	}
	return 0;
}

/* The prefix that, followed by the link's name, gives e's target (the
 * views link NAME to ../../NAME), or NULL. */
static bool split_target(const struct listing_entry *e, size_t *plen)
{
	size_t nl = strlen(e->name), tl = e->content->len;
	if (tl < nl || memcmp(e->content->data + tl - nl, e->name, nl))
		return false;
	*plen = tl - nl;
	return true;
}

static bool has_prefix(const struct listing_entry *e, const char *prefix)
{
	size_t pl;
	return prefix && split_target(e, &pl) && pl == strlen(prefix) &&
	       memcmp(e->content->data, prefix, pl) == 0;
}

struct linktab *linktab_from_listing(const struct listing *l, bool *nomem)
{
	size_t n = 0, bytes = 0;
	char *prefix = NULL;
	*nomem = false;
	for (size_t i = 0; i < l->n; i++) {
		const struct listing_entry *e = &l->v[i];
		size_t pl;
		if (e->kind->type != KIND_LINK || !e->content)
			continue;
		if (!prefix && split_target(e, &pl) &&
		    !(prefix = strndup(e->content->data, pl))) {
			*nomem = true;
			return NULL;
		}
		n++;
		bytes += strlen(e->name) + 1;
		if (!has_prefix(e, prefix))
			bytes += e->content->len + 1;
	}
	if (!n) {
		free(prefix);
		return NULL;
	}
	struct linktab *t = calloc(1, sizeof(*t));
	if (t) {
		t->prefix = prefix;
		t->v = malloc(n * sizeof(*t->v));
		t->strings = malloc(bytes);
	}
	if (!t || !t->v || !t->strings) {
		if (!t)
			free(prefix);
		linktab_unref(t);
		*nomem = true;
		return NULL;
	}
	t->refs = 1;
	char *p = t->strings;
	for (size_t i = 0; i < l->n; i++) {
		const struct listing_entry *e = &l->v[i];
		if (e->kind->type != KIND_LINK || !e->content)
			continue;
		struct linkent *x = &t->v[t->n++];
		t->kind = e->kind;
		size_t nl = strlen(e->name) + 1;
		x->name = memcpy(p, e->name, nl);
		p += nl;
		x->target = NULL;
		if (!has_prefix(e, prefix)) {
			x->target =
				memcpy(p, e->content->data, e->content->len);
			p += e->content->len;
			*p++ = '\0';
		}
		x->mtime = e->mtime;
	}
	qsort(t->v, t->n, sizeof(*t->v), by_name);
	if (index_by_hash(t)) {
		linktab_unref(t);
		*nomem = true;
		return NULL;
	}
	return t;
}

size_t linktab_target_len(const struct linktab *t, const struct linkent *e)
{
	return e->target ? strlen(e->target)
			 : strlen(t->prefix) + strlen(e->name);
}

struct blob *linktab_target(const struct linktab *t, const struct linkent *e)
{
	if (e->target)
		return blob_new(e->target, strlen(e->target));
	size_t pl = strlen(t->prefix), nl = strlen(e->name);
	struct buf b;
	buf_init(&b, pl + nl + 1);
	if (buf_append(&b, t->prefix, pl) || buf_append(&b, e->name, nl)) {
		buf_free(&b, false);
		return NULL;
	}
	struct blob *bl = blob_from_buf(&b);
	buf_free(&b, false);
	return bl;
}

bool linktab_target_is(const struct linktab *t, const struct linkent *e,
		       const char *s)
{
	if (e->target)
		return strcmp(e->target, s) == 0;
	size_t pl = strlen(t->prefix);
	return strncmp(s, t->prefix, pl) == 0 && strcmp(s + pl, e->name) == 0;
}

uint64_t linktab_ino(const struct linkent *e, uint64_t dir)
{
	if (e->hash_shared || !dir || dir >= (1ULL << 31))
		return 0;
	return LINKTAB_INO_BIT | dir << 32 | e->hash;
}

const struct linkent *linktab_by_ino(const struct linktab *t, uint64_t ino)
{
	if (!t || !linktab_is_ino(ino))
		return NULL;
	uint32_t h = (uint32_t)ino;
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->v[t->by_hash[mid]].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == t->n)
		return NULL;
	const struct linkent *e = &t->v[t->by_hash[lo]];
	return e->hash == h && !e->hash_shared ? e : NULL;
}

void linktab_stat(const struct linktab *t, const struct linkent *e,
		  uint64_t ino, uid_t uid, gid_t gid, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_uid = uid;
	st->st_gid = gid;
	st->st_size = (off_t)linktab_target_len(t, e);
	st->st_blksize = 4096;
	st->st_mtime = st->st_ctime = st->st_atime = e->mtime;
}

const struct linkent *linktab_find(const struct linktab *t, const char *name)
{
	struct linkent key = { .name = name };
	return t ? bsearch(&key, t->v, t->n, sizeof(*t->v), by_name) : NULL;
}

struct linktab *linktab_ref(struct linktab *t)
{
	if (t)
		__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	return t;
}

void linktab_unref(struct linktab *t)
{
	if (!t ||
	    (t->refs && __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL)))
		return;
	free(t->v);
	free(t->by_hash);
	free(t->prefix);
	free(t->strings);
	free(t);
}
