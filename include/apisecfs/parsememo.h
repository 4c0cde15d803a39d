/* parsememo.h - parsed list pages, shared by every walker of one version.
 *
 * A list page is walked by many readers: the listing, each view of it
 * (by-severity/X, by-status/X, an application's or a scan's findings),
 * all.jsonl's index and its reads. Each used to parse the page again; an
 * export parsed a page of the findings list up to 30 times. The memo
 * keeps the parsed tree of a page version while it fits its budget, so
 * a page is parsed once per version and every walker reads the same
 * tree. Trees are read-only once parsed: walkers only read them, from
 * any number of threads at once.
 *
 * A leaf: calls json only.
 */
#ifndef APISECFS_PARSEMEMO_H
#define APISECFS_PARSEMEMO_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* max_bytes: the arena bytes kept for trees no walker holds (0: none is
 * kept, each walk parses). */
void parsememo_init(size_t max_bytes);
/* Drops every kept tree; those still held go with their last put. */
void parsememo_cleanup(void);

struct parsememo_ref;
/* The tree of page key at version, whose body is data[len]: the kept one,
 * or parsed now (and kept while it fits). NULL (and *ref NULL) with
 * errno EINVAL if the body is not JSON, ENOMEM if memory ran out. The tree is valid until parsememo_put(*ref); the
 * thread that asked may use json's per-thread render memo on it. */
const cJSON *parsememo_get(const char *key, uint64_t version, const char *data,
			   size_t len, struct parsememo_ref **ref);
void parsememo_put(struct parsememo_ref *ref); /* NULL is fine */

struct parsememo_stats {
	unsigned long parses, hits;
	size_t bytes; /* arena bytes kept */
};
void parsememo_get_stats(struct parsememo_stats *out);

#endif
