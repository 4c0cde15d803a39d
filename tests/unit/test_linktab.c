/* test_linktab.c - packed link tables: lookup by name, inode numbers made
 * from the directory and the name's hash, and the names whose hashes
 * collide, which must get no such number (the caller makes an inode). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/kind.h"
#include "apisecfs/linktab.h"
#include "check.h"

static const struct kind link_kind = { .name = "link", .type = KIND_LINK };
static const struct kind file_kind = { .name = "file", .type = KIND_FILE };

/* Enough names that some 32-bit hashes collide (about n^2 / 2^33). */
#define N 200000

int main(void)
{
	struct listing l = { 0 };
	char name[32], target[48];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "vuln_%06d.json", i);
		int n = snprintf(target, sizeof(target), "../../%s", name);
		if (listing_add(&l, name, &link_kind, NULL, NULL,
				blob_new(target, (size_t)n), NULL, i))
			return 2;
	}
	/* A renamed link (a name collision): its target is not prefix+name. */
	if (listing_add(&l, "odd~v1.json", &link_kind, NULL, NULL,
			blob_new("../../odd.json", 14), NULL, 0))
		return 2;
	if (listing_add(&l, "not-a-link", &file_kind, NULL, NULL,
			blob_new("x", 1), NULL, 0))
		return 2;
	bool nomem;
	struct linktab *t = linktab_from_listing(&l, &nomem);
	CHECK(t && !nomem && t->n == N + 1);
	if (!t)
		return check_report("test_linktab");

	size_t shared = 0, bad = 0;
	const uint64_t dir = 4242;
	for (size_t i = 0; i < t->n; i++) {
		const struct linkent *e = &t->v[i];
		uint64_t ino = linktab_ino(e, dir);
		if (e->hash_shared) {
			shared++;
			bad += ino != 0 ||
			       linktab_by_ino(t, LINKTAB_INO_BIT | dir << 32 |
							 e->hash) != NULL;
			continue;
		}
		bad += !linktab_is_ino(ino) || linktab_dir_of(ino) != dir ||
		       linktab_by_ino(t, ino) != e;
	}
	CHECK(bad == 0);
	/* The names are fixed, so this is a fact about them and buf_hash:
	 * the collision path is exercised. */
	CHECK(shared >= 2);
	printf("test_linktab: %zu of %d names share a hash\n", shared, N);

	const struct linkent *e = linktab_find(t, "vuln_000042.json");
	CHECK(e && linktab_target_is(t, e, "../../vuln_000042.json") &&
	      !linktab_target_is(t, e, "../../vuln_000043.json") &&
	      !linktab_target_is(t, e, "../vuln_000042.json") &&
	      e->mtime == 42 && e->target == NULL);
	struct blob *tb = e ? linktab_target(t, e) : NULL;
	CHECK(tb && tb->len == 22 &&
	      memcmp(tb->data, "../../vuln_000042.json", 22) == 0);
	blob_unref(tb);
	CHECK(linktab_find(t, "not-a-link") == NULL);
	const struct linkent *odd = linktab_find(t, "odd~v1.json");
	CHECK(odd && odd->target &&
	      linktab_target_is(t, odd, "../../odd.json") &&
	      linktab_target_len(t, odd) == 14);
	struct blob *ob = odd ? linktab_target(t, odd) : NULL;
	CHECK(ob && ob->len == 14 &&
	      memcmp(ob->data, "../../odd.json", 14) == 0);
	blob_unref(ob);
	CHECK(linktab_find(t, "vuln_200000.json") == NULL);
	/* An inode number of another table or a real inode: not found. */
	CHECK(linktab_by_ino(t, 12345) == NULL);
	CHECK(linktab_ino(&t->v[0], 1ULL << 31) == 0);
	struct stat st;
	linktab_stat(t, e, 7, 1000, 1000, &st);
	CHECK(S_ISLNK(st.st_mode) && st.st_size == 22 && st.st_ino == 7);

	linktab_unref(t);
	listing_free(&l);
	return check_report("test_linktab");
}
