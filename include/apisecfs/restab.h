/* restab.h - resource rows: how an API list becomes a directory.
 *
 * A struct res_row says which list to page through, which fields give the
 * id, the name and the mtime, and what each item becomes (a directory
 * holding the object, a pretty JSON file, or a symlink to the item's home).
 * The resource modules (res_*.c) define their kinds with rows like these
 * and a few small render/act helpers; nothing else knows resource names.
 * rowwalk.h walks a row; the helpers below (restab.c) hold no state.
 */
#ifndef APISECFS_RESTAB_H
#define APISECFS_RESTAB_H

#include <stdbool.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "apisecfs/errmap.h"
#include "apisecfs/kind.h"

enum res_shape {
	RES_DIR,  /* a directory per item, its object kept for its files */
	RES_FILE, /* a file per item: the object, pretty-printed */
	RES_LINK, /* a symlink per item to link_to + name */
};

struct res_row {
	const char *path;    /* list path: "/v1/vulnerabilities" */
	const char *filter;  /* query parameter taking the node's value */
	bool filter_from_id; /* value is the node's id (else its ctx) */
	const char *id_field;
	const char *name_field; /* NULL: the id names the item */
	const char *ext;	/* ".json" or "" */
	enum res_shape shape;
	const struct kind *child;
	const char *link_to; /* RES_LINK: "../../vulns/" */
	/* RES_LINK: the names link_to's directory keeps for itself, so a
	 * target is the name the item has there (NULL: none). */
	const char *const *link_reserved;
	const char *const *reserved; /* names the item may not take */
	/* A control file listed first as "new" (apps/new, scans/new,
	 * tokens/new; reserved holds "new"); NULL: none. */
	const struct kind *new_ctl;
	/* Fetch the list as parallel streams, one query per value of this
	 * parameter (the API pages one query sequentially; independent
	 * queries overlap, and their pages are the ones the filtered views
	 * use, so those cost nothing more). NULL: one query. */
	const char *split_param;
	const char *const *split_values;
	/* Keep only items whose field match_field equals the node's ctx:
	 * a view filtered here from pages fetched (and cached) anyway. */
	const char *match_field;
	/* Instead of asking for the filtered list: the items of these lists
	 * (the whole list, as another directory walks it) whose filter
	 * field is the node's value, from one index of them (linkidx.h). */
	const char *const *index_paths;
	/* A field the index keeps beside each id, so that another user of
	 * the same index (linkidx.h) shares it; NULL: none. */
	const char *index_extra;
};

/* "<collection>/<id escaped><tail>" into out: 0 or -ENAMETOOLONG. */
int restab_item_path(char *out, size_t outsz, const char *collection,
		     const char *id, const char *tail)
	__attribute__((warn_unused_result));
/* DELETE collection/id; logs "<what> <id> <done>" on success. */
int restab_delete(const char *collection, const char *id, const char *what,
		  const char *done);
/* Add a fixed entry (no API data). */
int restab_add(struct listing *out, const char *name, const struct kind *k,
	       const char *id, const char *ctx)
	__attribute__((warn_unused_result));

/* A signature of a listing built by hand (names, link targets): the
 * kernel keeps a directory's entries across opens while it stays the
 * same (tree_opendir), so a listing whose entries can change needs one. */
uint64_t restab_entries_sig(const struct listing *l);

/* mtime of an API object: updatedAt, else completedAt, else createdAt. */
time_t restab_mtime(const cJSON *obj);
/* Pretty JSON (with a final newline) and one-line JSON as blobs. */
struct blob *restab_pretty(const cJSON *obj);
struct blob *restab_compact(const cJSON *obj);
/* Parse a node's object; NULL if it has none or it is not JSON. */
cJSON *restab_obj(const struct kind_ctx *c);
/* -errno for an API outcome; st's details were logged by http.c. */
int restab_errno(enum api_err err, const struct api_status *st);
/* Turn an API document into file bytes, as they are. */
int restab_append_doc(struct buf *out, const char *path, time_t *mtime)
	__attribute__((warn_unused_result));

/* res_vulns.c: the findings as vulns/ walks them (five streams). */
extern const char *const res_vulns_streams[];
/* res_scans.c: the names scans/ keeps for itself (its control files). */
extern const char *const res_scans_reserved[];

/* The kinds other modules refer to. res_vulns.c: a link to a finding's
 * file in vulns/ (apps/NAME/vulns/, scans/ID/vulns/, by-severity/S/). */
extern const struct kind restab_root_kind, res_vuln_link_kind;
extern const struct kind res_apps_kind, res_scans_kind, res_vulns_kind,
	res_teams_kind, res_tokens_kind;

/* The row of one object's findings (apps/NAME/vulns/, scans/ID/vulns/):
 * those whose filter_field is the object's id, from the index of the
 * lists vulns/ walks (linkidx.h), as links into vulns/ two levels up. */
#define RES_VULN_LINKS(filter_field)                                      \
	.path = "/v1/vulnerabilities", .filter = (filter_field),          \
	.index_paths = res_vulns_streams, .filter_from_id = true,         \
	.id_field = "vulnerabilityId", .ext = ".json", .shape = RES_LINK, \
	.child = &res_vuln_link_kind, .link_to = "../../../vulns/"

#endif
