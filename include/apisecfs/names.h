/* names.h - API names to safe, stable, bounded file names.
 *
 * The rules (documented in README.md "Name mapping"):
 *   - '/', control characters (< 0x20, 0x7f) and bytes that are not valid
 *     UTF-8 become '_'; every other character is kept as it is;
 *   - "", "." and ".." become "_", "_." and "_..";
 *   - the name is cut to NAMES_BASE_MAX bytes at a character boundary;
 *   - names that still collide in one directory (after mapping, or with a
 *     reserved name like "new") are told apart by "~<id>" before the
 *     extension. The entry whose API name maps to itself unchanged keeps the
 *     plain name (ties: the smallest id), so adding an item never renames an
 *     existing, well-named one.
 * A leaf: pure functions, no locks.
 */
#ifndef APISECFS_NAMES_H
#define APISECFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* Room for a suffix ("~" + id + extension) inside NAME_MAX (255). */
#define NAMES_BASE_MAX 200
#define NAMES_ID_MAX 40

/* Map one name into out (outsz >= NAMES_BASE_MAX + 1). Returns true if the
 * result differs from the input. */
bool names_sanitize(const char *in, char *out, size_t outsz);

/* The name names_assign gives an entry (api_name, else id) when no other
 * entry claims it first: what a file of that item is almost always
 * called. out needs NAMES_BASE_MAX + 3 + strlen(ext) bytes. */
void names_first_choice(const char *api_name, const char *id, const char *ext,
			char *out, size_t outsz);

/* The name an item known by its id alone gets in its home directory,
 * where names_assign keeps the reserved names (NULL-terminated, may be
 * NULL) for itself: what a link to it points at. out needs
 * NAMES_BASE_MAX + NAMES_ID_MAX + 3 + strlen(ext) bytes. */
void names_home(const char *id, const char *ext, const char *const *reserved,
		char *out, size_t outsz);

struct names_entry {
	const char *api_name; /* may be NULL: the id is used */
	const char *id;	      /* may be NULL for hostile data */
	char *name;	      /* out: malloc'd final name, caller frees */
};

/* Give each of the n entries a unique file name ending in ext ("" or
 * ".json"), avoiding the NULL-terminated reserved list. Returns 0, or -1 on
 * allocation failure (names already set are freed). */
int names_assign(struct names_entry *e, size_t n, const char *ext,
		 const char *const *reserved)
	__attribute__((warn_unused_result));

#endif
