/* test_spill.c - the disk cache of evicted pages: bytes back as written,
 * stale references once the file starts over or closes, no file made
 * where none can be. */
#include <stdlib.h>
#include <string.h>

#include "apisecfs/spill.h"
#include "check.h"

int main(void)
{
	struct spill_ref r1, r2, r3;
	char page[300 * 1024];

	setenv("TMPDIR", "/nonexistent-apisecfs-dir", 1);
	CHECK(spill_init(1 << 20) < 0);
	CHECK(!spill_put("x", 1, &r1) && !spill_valid(&r1));
	unsetenv("TMPDIR");

	CHECK(spill_init(0) == 0 && !spill_put("x", 1, &r1)); /* off */
	CHECK(spill_init(1 << 20) == 0);
	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (char)(check_rnd() & 0xff);
	CHECK(spill_put(page, sizeof(page), &r1));
	CHECK(spill_put("second", 6, &r2));
	struct blob *b = spill_get(&r1);
	CHECK(b && b->len == sizeof(page) &&
	      memcmp(b->data, page, sizeof(page)) == 0);
	blob_unref(b);
	b = spill_get(&r2);
	CHECK(b && b->len == 6 && memcmp(b->data, "second", 6) == 0);
	blob_unref(b);
	/* Bigger than the whole file: refused, nothing lost. */
	static char huge[(1 << 20) + 1];
	CHECK(!spill_put(huge, sizeof(huge), &r3) && spill_valid(&r1));
	/* Past the cap the file starts over: the old references go stale,
	 * the new one reads back. */
	CHECK(spill_put(page, sizeof(page), &r3) && spill_valid(&r1));
	CHECK(spill_put(page, sizeof(page), &r3) && spill_valid(&r1));
	CHECK(spill_put(page, sizeof(page), &r3)); /* 4 x 300 KiB > 1 MiB */
	CHECK(!spill_valid(&r1) && !spill_valid(&r2) && spill_valid(&r3));
	CHECK(spill_get(&r1) == NULL);
	b = spill_get(&r3);
	CHECK(b && b->len == sizeof(page) &&
	      memcmp(b->data, page, sizeof(page)) == 0);
	blob_unref(b);
	spill_cleanup();
	CHECK(!spill_valid(&r3) && spill_get(&r3) == NULL);
	return check_report("test_spill");
}
