/* scanhist.h - a scan's place in its instance's history, as the tree
 * shows it: scans/ID/previous (the instance's Completed scan before it),
 * apps/NAME/latest (the newest one), and scans/ID/diff/{new,persisting,
 * fixed}/ (the findings of two scans compared by fingerprint).
 *
 * Everything is derived at listing time from the lists the tree walks
 * anyway, so it costs no request of its own: every scan (/v1/scans, what
 * scans/ walks) and every finding (the lists vulns/ walks, through the
 * index by scanId that scans/ID/vulns/ uses, which keeps fingerprints).
 * Nothing derived outlives those lists (a memo of the Completed scans and
 * the index are checked against the lists' signatures at each use), so
 * when they are fetched again (the TTL, the user's own action, a wait that
 * saw a scan end) the links and diffs follow.
 */
#ifndef APISECFS_SCANHIST_H
#define APISECFS_SCANHIST_H

#include <cjson/cJSON.h>

#include "apisecfs/kind.h"

/* Add "previous" (a link to ../PREV) and "diff/" to the listing of
 * scans/ID/ when scan (its API object) is Completed and its instance has
 * a Completed scan before it; nothing otherwise. 0 or -errno. */
int scanhist_add_previous(struct listing *out, const cJSON *scan)
	__attribute__((warn_unused_result));
/* Add "latest" (a link to ../../scans/ID) to the listing of apps/NAME/
 * when instance inst (apps/NAME/'s) has a Completed scan. */
int scanhist_add_latest(struct listing *out, const char *inst)
	__attribute__((warn_unused_result));

/* Drop what is kept between listings (the memo of Completed scans). */
void scanhist_cleanup(void);

#endif
