/* appref.h - an application by reference (appref.c): what apps/NAME/scan
 * and scans/new share. Below the kinds that use it (res_apps, res_scans);
 * calls only down (api, names, restab).
 */
#ifndef APISECFS_APPREF_H
#define APISECFS_APPREF_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "apisecfs/buf.h"

/* The names apps/ keeps for itself (its control files): no application
 * takes them, so a name resolves the same here as under apps/. */
extern const char *const appref_apps_reserved[];

/* The first instance: the one apps/NAME/ shows and scans. NULL if none. */
const char *appref_primary_instance(const cJSON *app);

/* "/v1/applications/APP/instances/INST" + tail into out; -ENAMETOOLONG. */
int appref_instance_path(char *out, size_t outsz, const char *app,
			 const char *inst, const char *tail)
	__attribute__((warn_unused_result));

/* The application whose file name under apps/ (or whose id) is word, and
 * its primary instance; caller frees both. -ENOENT if none. */
int appref_resolve(const char *word, char **app_id, char **inst_id)
	__attribute__((warn_unused_result));

/* Start a scan (body NULL: every endpoint); reply gets the scan id and a
 * newline. */
int appref_start_scan(const char *app, const char *inst, const char *body,
		      size_t len, const char *idem, struct buf *reply)
	__attribute__((warn_unused_result));

#endif
