/* rowwalk.h - walking a resource row (restab.h's struct res_row) into a
 * directory listing.
 *
 * The kinds' list and reload callbacks (res_*.c) call it with the node's
 * context; it makes the API requests (a split row's lists on a thread each,
 * joined before it returns) and keeps, between listings, only the sibling
 * views of the last grouped walk (a few seconds) and its budget.
 */
#ifndef APISECFS_ROWWALK_H
#define APISECFS_ROWWALK_H

#include <stddef.h>

#include "apisecfs/kind.h"
#include "apisecfs/restab.h"

/* Drop what the walks keep between listings (sibling views' items, the
 * indexes of linkidx.h). */
void rowwalk_cleanup(void);
/* How many rendered bytes one listing may keep for its files' first
 * reads (a share of the content cap); 0 keeps none. Once, at start. */
void rowwalk_keep_rendered(size_t bytes);
/* Page through row's list and add an entry per item to out. */
int rowwalk_list(const struct kind_ctx *c, const struct res_row *row,
		 struct listing *out) __attribute__((warn_unused_result));
/* Render again, through emit, every file of one of row's list pages (a
 * RES_FILE row's evicted contents). */
int rowwalk_reload(const struct res_row *row, const char *page_key,
		   kind_emit_fn emit, void *ud)
	__attribute__((warn_unused_result));
/* The listing one list page (body, len bytes) gives under row: what
 * rowwalk_list does per page, without the network (the fuzz target). */
int rowwalk_page_listing(const struct res_row *row, const char *body,
			 size_t len, struct listing *out)
	__attribute__((warn_unused_result));

#endif
