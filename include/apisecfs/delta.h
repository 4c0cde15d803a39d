/* delta.h - which cached list pages a set of changes touched.
 *
 * Keeping a list of N items fresh by revalidating each page costs N/500
 * requests a TTL. The platform can say what changed since a time
 * (updatedSince) for findings and scans; with each cached page's item ids
 * (a small Bloom filter, kept with the page) that answer tells which pages
 * must be asked again and which still stand, so a quiet platform costs one
 * request a TTL and a change a few, whatever N is. This module is the pure
 * part: filters, and the verdict on one cached entry. api.c runs the rounds.
 *
 * What it relies on, from the contract and the simulator: lists are in a
 * stable order in which new items come last (ids in creation order), an
 * item changes only through fields the lists do not filter on except
 * status, and items disappear only with their application.
 */
#ifndef APISECFS_DELTA_H
#define APISECFS_DELTA_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "apisecfs/buf.h"

/* The field naming an item of the list resource path belongs to
 * ("vulnerabilityId" for /v1/vulnerabilities...), or NULL when the
 * resource has no updatedSince. */
const char *delta_id_field(const char *path);
/* The resource prefix of path ("/v1/vulnerabilities"), or NULL. */
const char *delta_resource(const char *path);

/* A filter of the ids of a page's items (NULL when memory is short). */
struct blob *delta_ids_new(const cJSON *items, const char *id_field);
bool delta_ids_may_have(const struct blob *ids, const char *id);

/* The changes since the last round: the items updatedSince listed. */
struct delta_changes {
	const cJSON *items; /* borrowed array */
	const char *id_field;
	const char *prefix; /* the resource */
};
/* cache_renew_fn's verdict on one entry of the resource: > 0 still right,
 * < 0 touched by a change, 0 unknown (revalidate as usual). */
int delta_verdict(const char *key, const char *memo, const struct blob *ids,
		  const struct delta_changes *ch);

#endif
