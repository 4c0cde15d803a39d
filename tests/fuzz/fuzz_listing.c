/* fuzz_listing.c - libFuzzer target for the JSON-to-tree conversion.
 *
 * Input: a list page body as the platform would send it (hostile: wrong
 * types, missing fields, duplicate ids, deep nesting, odd bytes). It goes
 * through rowwalk_page_listing for a directory row and a file row, exactly
 * as a listing does. Every entry must get a safe, unique name and, for
 * files, a size equal to the bytes the renderer produces again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/json.h"
#include "apisecfs/kind.h"
#include "apisecfs/restab.h"
#include "apisecfs/rowwalk.h"

static const struct kind dir_kind = { .name = "dir", .type = KIND_DIR };
static const struct kind file_kind = { .name = "file", .type = KIND_FILE };
static const char *const reserved[] = { "new", NULL };

static const struct res_row rows[] = {
	{ .path = "/v1/applications", .id_field = "applicationId",
	  .name_field = "applicationName", .ext = "", .shape = RES_DIR,
	  .child = &dir_kind, .reserved = reserved },
	{ .path = "/v1/vulnerabilities", .id_field = "vulnerabilityId",
	  .ext = ".json", .shape = RES_FILE, .child = &file_kind,
	  .reserved = reserved },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t r = 0; r < sizeof(rows) / sizeof(*rows); r++) {
		struct listing l = { 0 };
		if (rowwalk_page_listing(&rows[r], (const char *)data, size,
					&l) == 0) {
			for (size_t i = 0; i < l.n; i++) {
				const char *name = l.v[i].name;
				if (!*name || strchr(name, '/') ||
				    !strcmp(name, ".") || !strcmp(name, "..") ||
				    strlen(name) > 255)
					abort();
				for (size_t j = 0; j < i; j++)
					if (!strcmp(name, l.v[j].name))
						abort();
				if (rows[r].shape == RES_DIR && !l.v[i].obj)
					abort();
			}
		}
		listing_free(&l);
	}
	return 0;
}
