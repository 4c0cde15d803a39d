/* test_sync.c - sync.c's freshness rules on the fake clock, with kinds
 * whose callbacks are the test's (no API, no kernel: notify is not
 * started, so invalidations are dropped): a listing is kept for the TTL
 * and listed again after it; reconciling keeps inodes, adds and drops
 * entries; an unchanged listing keeps the children; sync_expire_all
 * expires at once; a listing or a render fetched across an expiry (an
 * action meanwhile) is applied but stays expired, and never lands over a
 * listing started after it; rendered files keep their bytes for the TTL,
 * live ones never. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/clock.h"
#include "apisecfs/kind.h"
#include "apisecfs/node.h"
#include "apisecfs/sync.h"
#include "check.h"

#define TTL_MS 1000

static long long now_ms = 5000;
static long long fake_clock(void)
{
	return now_ms;
}

/* What the root lists: names, each a file whose bytes are its name. */
static const char *names[8];
static int lists, renders;
static bool unchanged_next;
/* One listing only: an action completes while it is fetched (and, with
 * nested, another listing starts and ends meanwhile, seeing nested). */
static bool act_during;
static const char *const *nested;

static const struct kind file_kind = { .name = "file", .type = KIND_FILE };
static int render(const struct kind_ctx *c, struct buf *out, time_t *mtime);
static const struct kind rendered_kind = { .name = "rendered",
					   .type = KIND_FILE,
					   .render = render };
static const struct kind live_kind = {
	.name = "live", .type = KIND_FILE, .render = render, .live = true
};

static int list_into(const char *const *v, struct listing *out)
{
	for (; *v; v++) {
		struct blob *b = blob_new(*v, strlen(*v));
		if (listing_add(out, *v, &file_kind, *v, NULL, b, NULL, 0))
			return -1;
	}
	return listing_add(out, "r", &rendered_kind, NULL, NULL, NULL, NULL,
			   0) ||
	       listing_add(out, "live", &live_kind, NULL, NULL, NULL, NULL, 0);
}

static int list_root(const struct kind_ctx *c, struct listing *out)
{
	lists++;
	out->sig = 42;
	if (unchanged_next && c->list_sig == 42) {
		/* As a resource does when its pages' signature held. */
		unchanged_next = false;
		out->unchanged = true;
		return 0;
	}
	const char *mine[8];
	memcpy(mine, names, sizeof(mine)); /* what was there when asked */
	if (act_during) {
		act_during = false;
		sync_expire_all(false);
		if (nested) {
			memcpy(names, nested, sizeof(names));
			nested = NULL;
			struct node *root = node_get(FUSE_ROOT_ID);
			CHECK(sync_listed(root) == 0);
			node_put(root);
		}
	}
	return list_into(mine, out);
}

static const struct kind root_kind = { .name = "root",
				       .type = KIND_DIR,
				       .list = list_root };

static bool expire_in_render;
static int render(const struct kind_ctx *c, struct buf *out, time_t *mtime)
{
	char s[32];
	(void)c;
	*mtime = 0;
	renders++;
	if (expire_in_render) {
		expire_in_render = false;
		sync_expire_all(false);
	}
	snprintf(s, sizeof(s), "render %d", renders);
	return buf_append(out, s, strlen(s));
}

/* The root's child called name, pinned (NULL: none). */
static struct node *child(const char *name)
{
	node_lock();
	struct node *root = node_find_locked(FUSE_ROOT_ID);
	struct node *c = node_child_locked(root, name);
	if (c)
		node_pin_locked(c);
	node_unlock();
	return c;
}

static bool has(const char *name)
{
	struct node *c = child(name);
	node_put(c);
	return c != NULL;
}

static int relist(void)
{
	struct node *root = node_get(FUSE_ROOT_ID);
	int rc = sync_listed(root);
	node_put(root);
	return rc;
}

static void set_names(const char *a, const char *b, const char *c)
{
	memset(names, 0, sizeof(names));
	names[0] = a;
	names[1] = b;
	names[2] = c;
}

int main(void)
{
	clock_set_source(fake_clock);
	sync_init(TTL_MS / 1000.0);
	CHECK(node_init(&root_kind, 1 << 20, sync_more_free) == 0);

	/* Listed once, kept for the TTL, listed again at its end. */
	set_names("a", "b", NULL);
	CHECK(relist() == 0 && lists == 1 && has("a") && has("b"));
	struct node *a = child("a");
	fuse_ino_t a_ino = a ? a->ino : 0;
	CHECK(a && a->content && a->content->len == 1 &&
	      a->content->data[0] == 'a');
	node_put(a);
	CHECK(relist() == 0 && lists == 1);
	now_ms += TTL_MS - 1;
	CHECK(relist() == 0 && lists == 1);
	now_ms += 1;
	CHECK(relist() == 0 && lists == 2);

	/* Reconciled: b goes, c comes, a keeps its inode. */
	set_names("a", "c", NULL);
	now_ms += TTL_MS;
	CHECK(relist() == 0 && lists == 3);
	CHECK(has("a") && !has("b") && has("c"));
	a = child("a");
	CHECK(a && a->ino == a_ino);
	node_put(a);

	/* Unchanged data behind the listing: the children stay as they
	 * are, and the listing is fresh for another TTL. */
	now_ms += TTL_MS;
	unchanged_next = true;
	CHECK(relist() == 0 && lists == 4 && has("a") && has("c"));
	CHECK(relist() == 0 && lists == 4);

	/* An action (sync_expire_all) expires it at once. */
	sync_expire_all(false);
	CHECK(relist() == 0 && lists == 5);
	CHECK(relist() == 0 && lists == 5);

	/* A listing fetched while an action completed: applied, but
	 * expired, so the next access lists again (it may predate what the
	 * action made). */
	now_ms += TTL_MS;
	set_names("a", "d", NULL);
	act_during = true;
	CHECK(relist() == 0 && lists == 6 && has("d"));
	CHECK(relist() == 0 && lists == 7);
	CHECK(relist() == 0 && lists == 7);

	/* Two listings race: the one started before an action ends last.
	 * The later one (which sees "e", made by the action) stays. */
	now_ms += TTL_MS;
	static const char *const after[8] = { "a", "e", NULL };
	nested = after;
	act_during = true;
	CHECK(relist() == 0 && lists == 9);
	CHECK(has("e") && !has("d"));

	/* Rendered files: the bytes are kept for the TTL; rendered again
	 * after it and after an action. */
	CHECK(relist() == 0);
	struct node *r = child("r");
	CHECK(r != NULL);
	if (!r)
		return check_report("test_sync");
	CHECK(sync_content(r) == 0 && renders == 1);
	CHECK(r->content && r->content->len == 8 &&
	      memcmp(r->content->data, "render 1", 8) == 0);
	CHECK(sync_content(r) == 0 && sync_fresh(r, true) == 0 &&
	      renders == 1);
	now_ms += TTL_MS;
	CHECK(sync_content(r) == 0 && renders == 2);
	sync_expire_all(false);
	CHECK(sync_content(r) == 0 && renders == 3);
	/* Rendered across an action: kept, but rendered again next time. */
	now_ms += TTL_MS;
	expire_in_render = true;
	CHECK(sync_content(r) == 0 && renders == 4);
	CHECK(sync_content(r) == 0 && renders == 5);
	CHECK(sync_content(r) == 0 && renders == 5);
	node_put(r);
	/* A live file is rendered at every look. */
	struct node *live = child("live");
	CHECK(live && sync_content(live) == 0 && sync_content(live) == 0 &&
	      renders == 7);
	node_put(live);

	/* A file from the listing: fresh with it; after the TTL, making it
	 * fresh lists its directory again. */
	CHECK(relist() == 0); /* the actions above expired it */
	int before = lists;
	a = child("a");
	CHECK(a && sync_fresh(a, true) == 0 && lists == before);
	now_ms += TTL_MS;
	CHECK(a && sync_fresh(a, false) == 0 && lists == before + 1);
	node_put(a);

	node_cleanup();
	return check_report("test_sync");
}
