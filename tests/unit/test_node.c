/* test_node.c - the inode table: inode numbers found after many adds and
 * removals in random order (open addressing with backward-shift deletion
 * must never lose or resurrect one), strings kept with the node, lookup
 * counts, the owner's free callback for what it hangs on a node, and a
 * clean teardown (ASan checks the frees). Links node.c and its leaves
 * only: no stream, no link table, no API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/kind.h"
#include "apisecfs/node.h"
#include "check.h"

static const struct kind dir_kind = { .name = "dir", .type = KIND_DIR };
static const struct kind file_kind = { .name = "file", .type = KIND_FILE };

#define N 50000

/* node.c never looks inside what the owner hangs on node_more: it hands
 * it back here when the node goes. */
static int sentinel;
static int more_freed, sentinel_freed;
static void more_free(struct node_more *m)
{
	more_freed++;
	if (m->links == (struct linktab *)&sentinel)
		sentinel_freed++;
}

int main(void)
{
	static fuse_ino_t ino[N];
	static bool gone[N];
	char name[32], id[32];
	CHECK(node_init(&dir_kind, 1 << 20, more_free) == 0);
	node_lock();
	struct node *root = node_find_locked(FUSE_ROOT_ID);
	CHECK(root != NULL);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "f%05d.json", i);
		snprintf(id, sizeof(id), "id%05d", i);
		struct node *c = node_add_child_locked(root, name, &file_kind,
						       id, i % 2 ? "x" : NULL,
						       S_IFREG | 0444);
		if (!c)
			return 2;
		ino[i] = c->ino;
	}
	/* The strings after the name: a ctx without an id, then neither. */
	struct node *only_ctx = node_add_child_locked(
		root, "c", &file_kind, NULL, "y", S_IFREG | 0444);
	struct node *bare = node_add_child_locked(root, "b", &file_kind, NULL,
						  NULL, S_IFREG | 0444);
	CHECK(only_ctx && !node_id(only_ctx) && node_ctx(only_ctx) &&
	      strcmp(node_ctx(only_ctx), "y") == 0);
	CHECK(bare && !node_id(bare) && !node_ctx(bare) &&
	      strcmp(bare->name, "b") == 0);
	node_unlink_locked(only_ctx);
	node_unlink_locked(bare);
	/* A directory always has its optional part; the owner's parts of
	 * it go back to the owner once, when the node is freed. */
	struct node *d = node_add_child_locked(root, "d", &dir_kind, NULL,
					       NULL, S_IFDIR | 0555);
	CHECK(d && d->more);
	d->more->links = (struct linktab *)&sentinel;
	node_unlink_locked(d); /* nothing refers to it: freed now */
	CHECK(more_freed == 1 && sentinel_freed == 1);
	node_unlock();
	CHECK(node_count() == N + 1);
	node_lock();
	/* Remove about half, in a scrambled order; a few stay referenced by
	 * the kernel (a lookup) and so outlive their unlinking. */
	srand(7);
	size_t removed = 0;
	for (int k = 0; k < N; k++) {
		int i = (int)(((unsigned)k * 7919u) % N);
		if (rand() % 2)
			continue;
		struct node *c = node_find_locked(ino[i]);
		if (i % 1000 == 0)
			node_lookup_locked(c);
		else
			gone[i] = true, removed++;
		node_unlink_locked(c);
	}
	size_t bad = 0;
	for (int i = 0; i < N; i++) {
		struct node *c = node_find_locked(ino[i]);
		snprintf(name, sizeof(name), "f%05d.json", i);
		snprintf(id, sizeof(id), "id%05d", i);
		if (gone[i]) {
			bad += c != NULL;
			continue;
		}
		bad += !c || c->ino != ino[i] || strcmp(c->name, name) ||
		       !node_id(c) || strcmp(node_id(c), id) ||
		       (i % 2 ? !node_ctx(c) || strcmp(node_ctx(c), "x")
			      : node_ctx(c) != NULL);
		if (c && c->linked)
			bad += node_child_locked(root, name) != c;
	}
	CHECK(bad == 0);
	CHECK(node_find_locked(ino[N - 1] + 1) == NULL);
	CHECK(node_find_locked(1ULL << 63) == NULL);
	node_unlock();
	CHECK(node_count() == N + 1 - removed);
	/* The kernel forgets the unlinked-but-looked-up ones: freed now. */
	for (int i = 0; i < N; i += 1000) {
		node_lock();
		struct node *c = node_find_locked(ino[i]);
		bool held = c && !c->linked;
		node_unlock();
		if (held) {
			node_forget(ino[i], 1);
			CHECK(node_get(ino[i]) == NULL);
		}
	}
	node_cleanup();
	CHECK(node_count() == 0);
	CHECK(more_freed == 2 && sentinel_freed == 1); /* and the root's */
	return check_report("test_node");
}
