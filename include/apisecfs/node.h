/* node.h - the inode table: what the kernel knows by number.
 *
 * A node is one file, directory or symlink of the tree. It is found by
 * inode number or by (parent, name), and lives while it is linked into its
 * parent's listing, while the kernel holds lookups on it (nlookup mirrors
 * the kernel's count: lookup +1, forget -n) or while an operation has it
 * pinned. Inode numbers are never reused, so no generation games.
 *
 * One mutex (node_lock) guards the table and every mutable field. Fields
 * marked "immutable" may be read without it while the node is pinned.
 * Never hold the lock across a request or a fuse_reply_*.
 *
 * Lock order. Taken after: treeread.c's reader slot lock. While holding
 * node_lock only these may be taken: auth's state.lock (scopes, through
 * sync_may_read and sync_mode), notify's queue lock (notify_inval_*), and
 * the atomic reference counts of blobs, streams and linktabs. Never the
 * cache's lock, a stream reader's, or a control handle's.
 */
#ifndef APISECFS_NODE_H
#define APISECFS_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "apisecfs/buf.h"
#include "apisecfs/nametab.h"

struct kind;	/* what a node is: kind.h */
struct stream;	/* stream.h */
struct linktab; /* linktab.h */

/* What only directories and paged files need, apart so that a finding's
 * file (most nodes by far) does not carry it. */
struct node_more {
	struct blob *obj;      /* compact JSON of the API object it shows */
	struct stream *stream; /* paged files: the index their bytes follow */
	struct linktab *links; /* dirs: symlinks not made inodes yet */
	uint64_t list_sig;     /* dirs: signature of the applied listing */
	uint64_t list_epoch;   /* dirs: expire epoch it was fetched in */
	bool listed;	       /* dirs: children are known */
	/* dirs: the data mount's kernel caches the entries it read (keeps
	 * them across opens while they are the same): of which listing. */
	bool kernel_listed;
	uint64_t kernel_sig;
	struct nametab children; /* dirs: by name */
}; /* every field under node_lock, like the node's */

struct node {
	fuse_ino_t ino;		 /* immutable */
	fuse_ino_t parent;	 /* immutable; 0 for the root */
	const struct kind *kind; /* immutable */
	/* The rest: under node_lock. */

	uint64_t nlookup; /* kernel lookups */
	int pins;	  /* operations in progress */
	mode_t mode;	  /* type and permission bits. Without the lock
			   * ask kind->type (KIND_DIR: S_IFDIR), which is
			   * immutable: getattr rewrites mode under it */
	time_t mtime;
	struct blob *content;  /* file bytes or link target; NULL: unknown or
			       * evicted (size still holds) */
	size_t size;	       /* length of the content, also when evicted */
	uint64_t content_hash; /* buf_hash of the content it should have */
	struct blob *src;      /* key of the list page its content comes from:
			       * set for contents that may be evicted */
	struct node *lru_prev, *lru_next; /* evictable contents, hot first */
	long long expires_ms;	/* content (files) or listing (dirs) */
	struct node_more *more; /* dirs, paged files and nodes showing an
				 * object; NULL for the rest */
	bool linked;		/* present in the parent's listing */
	bool opened_before;	/* content was handed to the kernel before */
	bool mark;		/* scratch for sync.c's reconcile */
	bool stale_attrs;	/* content changed since the kernel's attrs */
	bool has_id, has_ctx;	/* immutable: see node_id, node_ctx */
	/* Immutable: the name, then the API id it is about and a second
	 * id / filter value when it has them, each NUL-terminated, in the
	 * same allocation (no pointers: 16 bytes less on every finding). */
	char name[];
};

/* The API id n is about, or NULL. */
static inline const char *node_id(const struct node *n)
{
	return n->has_id ? n->name + __builtin_strlen(n->name) + 1 : NULL;
}
/* The second id / filter value of n, or NULL. */
static inline const char *node_ctx(const struct node *n)
{
	if (!n->has_ctx)
		return NULL;
	const char *p = n->name + __builtin_strlen(n->name) + 1;
	return n->has_id ? p + __builtin_strlen(p) + 1 : p;
}

/* Readers of the optional part (lock held). */
static inline struct linktab *node_links(const struct node *n)
{
	return n->more ? n->more->links : NULL;
}
static inline struct stream *node_stream(const struct node *n)
{
	return n->more ? n->more->stream : NULL;
}
static inline struct blob *node_obj(const struct node *n)
{
	return n->more ? n->more->obj : NULL;
}
static inline bool node_listed(const struct node *n)
{
	return n->more && n->more->listed;
}
/* The children of a directory, one at a time: start with *pos = 0, step
 * with (*pos)++; unlinking the child returned is fine. */
struct node *node_next_child_locked(const struct node *dir, size_t *pos);
size_t node_child_count_locked(const struct node *dir);

/* Frees what the owner hangs on a node's optional part (stream, links):
 * called when the node goes, with node_lock held (it must not take it). */
typedef void (*node_more_free_fn)(struct node_more *m);

/* Create the table with its root directory (ino 1) of root_kind.
 * content_max caps the bytes of evictable contents held (an LRU).
 * more_free (may be NULL) frees the owner's parts of node_more. */
int node_init(const struct kind *root_kind, size_t content_max,
	      node_more_free_fn more_free) __attribute__((warn_unused_result));
void node_cleanup(void);

void node_lock(void);
void node_unlock(void);

/* The node for ino, pinned; NULL if unknown. Release with node_put. */
struct node *node_get(fuse_ino_t ino);
void node_put(struct node *n);
/* Lock held: the node for ino, not pinned (borrowed); NULL if unknown. */
struct node *node_find_locked(fuse_ino_t ino);
/* Lock held: pin/unpin without taking the lock again. */
void node_pin_locked(struct node *n);
void node_put_locked(struct node *n);

/* Lock held: n's content was used; keep it longer. */
void node_touch_locked(struct node *n);
/* Lock held: the content n should have is size bytes hashing to hash,
 * reloadable from the list page src (takes the reference). If that is not
 * what n holds, the held bytes are dropped. Returns true if the content
 * changed. */
bool node_expect_content_locked(struct node *n, size_t size, uint64_t hash,
				struct blob *src);
/* Lock held: the child of dir called name, or NULL. Borrowed. */
struct node *node_child_locked(struct node *dir, const char *name);
/* Lock held: a new linked child (copies name, id, ctx). NULL on ENOMEM. */
struct node *node_add_child_locked(struct node *dir, const char *name,
				   const struct kind *k, const char *id,
				   const char *ctx, mode_t mode);
/* Lock held: take n (and its subtree) out of the listing. Nodes nobody
 * references are freed at once; n must not be used after this unless
 * pinned. */
void node_unlink_locked(struct node *n);

/* Lock held: the kernel learned of n through a reply. */
void node_lookup_locked(struct node *n);
/* The kernel forgot nlookup references to ino. */
void node_forget(fuse_ino_t ino, uint64_t nlookup);

/* Lock held: attributes of n for the kernel. */
/* The owner every file shows (the mounting user unless -o uid=/gid=). */
void node_owner(uid_t *uid, gid_t *gid);
/* Show uid:gid as every node's owner and clear the umask bits of every
 * mode but a link's (-o uid=,gid=,umask=). */
void node_set_owner(uid_t uid, gid_t gid, mode_t umask);
void node_stat_locked(const struct node *n, struct stat *st);

/* Replace n's content (takes the reference); lock held. Returns true if
 * the bytes changed. */
bool node_set_content_locked(struct node *n, struct blob *content);
bool node_set_obj_locked(struct node *n, struct blob *obj);
/* Lock held: n's optional part, made now if it has none; NULL when
 * memory is short. */
struct node_more *node_more_locked(struct node *n);

size_t node_count(void);
/* The cap on evictable content (node_init's content_max). */
size_t node_content_max(void);
/* Bytes of evictable content held now. */
size_t node_content_bytes(void);

#endif
