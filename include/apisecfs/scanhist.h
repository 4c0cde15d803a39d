/* scanhist.h - a scan's place in its instance's history, as the tree
 * shows it: scans/ID/previous (the instance's Completed scan before it),
 * apps/NAME/latest (the newest one), and scans/ID/diff/{new,persisting,
 * fixed}/ (the findings of two scans compared by fingerprint).
 *
 * Everything is derived at listing time from lists the tree fetches (and
 * the API cache keeps) anyway: the application's scans
 * (/v1/scans?applicationId=, what apps/NAME/scans/ walks) and each scan's
 * findings (/v1/vulnerabilities?scanId=, what scans/ID/vulns/ walks).
 * Nothing derived is kept beyond the listing it went into, so when those
 * lists are fetched again (the TTL, the user's own action, a wait that
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
 * when instance inst of application app has a Completed scan. */
int scanhist_add_latest(struct listing *out, const char *app,
			const char *inst) __attribute__((warn_unused_result));

#endif
