/* linkidx.h - the views of a list by one field, from one walk of it.
 *
 * apps/NAME/vulns/, scans/ID/vulns/ and apps/NAME/scans/ each show the
 * items of one big list (findings, scans) whose applicationId or scanId
 * is the directory's. Asking the platform for each filtered list costs a
 * request per directory: find over 100 applications and 180 scans made
 * 380 of them. An index built from one walk of the whole list (the pages
 * vulns/ and scans/ walk anyway, so usually from the cache) answers all of
 * them; it is rebuilt when the list's pages change (their versions'
 * signature), and the walk that checks that is the list's own freshness
 * (a round of changes after the TTL, nothing before it).
 */
#ifndef APISECFS_LINKIDX_H
#define APISECFS_LINKIDX_H

#include <stdint.h>
#include <time.h>

#include "apisecfs/errmap.h"

/* Called per item of the view, in the list's order, with its extra
 * field's value (NULL when the index keeps none, or the item has none).
 * Non-zero stops. */
typedef int (*linkidx_fn)(const char *id, time_t mtime, const char *extra,
			  void *ud);

/* The items of the lists at paths (NULL-terminated: one list walked as
 * parallel streams counts as their union) whose field equals value: their
 * id_field, mtime and extra_field (NULL: none; scans/ID/diff/ needs each
 * finding's fingerprint), through fn. An index is one per (paths, field,
 * extra_field): views asking the same share it. *sig changes whenever the
 * lists do. Returns API_OK or the error, with st. */
enum api_err linkidx_view(const char *const *paths, const char *field,
			  const char *id_field, const char *extra_field,
			  const char *value, linkidx_fn fn, void *ud,
			  uint64_t *sig, struct api_status *st)
	__attribute__((warn_unused_result));
/* Drop every index (memory back at unmount). */
void linkidx_cleanup(void);

#endif
