/* evfeed.h - what changed on the platform: updatedSince answers of the
 * scan and finding lists turned into event lines, each change once.
 *
 * The feed keeps, per list, the mark its next query starts from (the
 * platform's Date of the last complete answer, less an overlap) and the
 * items seen since then with their status and updatedAt, so that the
 * overlap shows nothing twice. Items the next query cannot return again
 * are forgotten: memory follows the changes of the last few seconds, not
 * the data size. Not thread-safe: one poller owns a feed. Makes no
 * request (events.c fetches; tests feed it pages).
 */
#ifndef APISECFS_EVFEED_H
#define APISECFS_EVFEED_H

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "apisecfs/buf.h"

/* Seconds each query reaches back before the last answer's Date: a
 * platform whose list replicas lag its clock by less than this loses
 * nothing (de-duplication hides what the overlap shows again). */
#define EVFEED_OVERLAP_S 5

enum evfeed_list { EVFEED_SCANS, EVFEED_VULNS, EVFEED_NLISTS };

struct evfeed;

struct evfeed *evfeed_new(void);
void evfeed_free(struct evfeed *f); /* NULL is fine */

/* Start every list's window at date (the platform's Date when the stream
 * began): changes at or after it are news. */
void evfeed_begin(struct evfeed *f, time_t date);

/* The query for list l: its base path (as given) with
 * updatedSince=<mark - overlap>, limit and nextToken (NULL: the first
 * page). Returns 0, or -1 if it does not fit. */
int evfeed_query(const struct evfeed *f, enum evfeed_list l, const char *base,
		 const char *next, char *out, size_t outsz)
	__attribute__((warn_unused_result));

/* A line made from a change: the item's time (updatedAt, or detectedAt
 * for a new finding) and the line (a reference the callee takes). Return
 * 0 to go on. */
typedef int (*evfeed_emit_fn)(struct blob *line, time_t t, void *ud);

/* One item of an answer for list l: emits a line per change not emitted
 * before (scan.status; vuln.new, and vuln.status for a finding found not
 * ACTIVE or changed since). Returns 0, -ENOMEM, or emit's non-zero. */
int evfeed_item(struct evfeed *f, enum evfeed_list l, const cJSON *item,
		evfeed_emit_fn emit, void *ud)
	__attribute__((warn_unused_result));

/* Every page of list l's query was taken, the first answered with Date
 * date: move the mark there and forget items the next query cannot show
 * again. After a failed walk do not call it: the window stays and the
 * next poll sees its changes again (de-duplicated). */
void evfeed_done(struct evfeed *f, enum evfeed_list l, time_t date);

/* Items remembered now (tests). */
size_t evfeed_known(const struct evfeed *f, enum evfeed_list l);

/* RFC 3339 UTC of t ("2026-11-22T10:00:00Z") into out (at least 21
 * bytes). */
void evfeed_time_str(time_t t, char *out, size_t outsz);

#endif
