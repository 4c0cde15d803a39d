/* stream.h - files too big to hold in memory (vulns/all.jsonl): their
 * bytes are made from one list page at a time, when read.
 *
 * A stream is an index of a paged list: for each page, its cache key and
 * where its bytes fall in the file. Building it walks the list by its
 * pages' versions and measures (api_measure_pages: a listing that parsed
 * the pages measured them already, and the cache keeps the measures of
 * evicted pages); reading renders
 * only the page under the offset. A reader keeps the last page it made, so
 * sequential reads render each page once. Memory: the index (a few dozen
 * bytes a page) plus one page per open file.
 */
#ifndef APISECFS_STREAM_H
#define APISECFS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "apisecfs/buf.h"

/* Appends one item's bytes to out: 0 or -1. */
typedef int (*stream_item_fn)(const cJSON *item, struct buf *out);
/* The bytes stream_item_fn would append, counted (SIZE_MAX: cannot). */
typedef size_t (*stream_len_fn)(const cJSON *item);

struct stream;
struct stream_reader;

/* Index the lists at paths (NULL-terminated), one after the other, fn
 * making an item's bytes and len_fn counting them. With old (the previous index): when no page's
 * version changed, *out is old again (a reference). Returns 0 or -errno. */
int stream_build(const char *const *paths, stream_item_fn fn,
		 stream_len_fn len_fn, struct stream *old, struct stream **out)
	__attribute__((warn_unused_result));
size_t stream_size(const struct stream *s);
uint64_t stream_sig(const struct stream *s); /* equal: same bytes */
struct stream *stream_ref(struct stream *s);
void stream_unref(struct stream *s); /* NULL is fine */

/* A reader over s (takes a reference). NULL on ENOMEM. */
struct stream_reader *stream_reader_new(struct stream *s);
void stream_reader_free(struct stream_reader *r); /* NULL is fine */
/* Does r read the index s (not an older one)? */
bool stream_reader_on(const struct stream_reader *r, const struct stream *s);
/* Up to size bytes at off. Returns bytes or -errno (EIO when the list
 * changed under the index: reopen for the new bytes). */
int stream_read(struct stream_reader *r, char *out, size_t size, off_t off)
	__attribute__((warn_unused_result));

#endif
