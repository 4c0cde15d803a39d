/* kind.h - what a node is: the contract between the tree engine (tree.c,
 * sync.c) and the resources (res_*.c, their rows walked by rowwalk.c).
 *
 * A kind is a row of callbacks, like redis's dictType: directories list
 * their children, lazily rendered files render their bytes, control files
 * act. The engine never tests resource names; to add a resource, add kinds
 * and their small helpers in a res_*.c (restab.h's rows and helpers).
 *
 * Callbacks run without any lock held and may make API requests. They get
 * a struct kind_ctx, a snapshot of the node's immutable fields, and return
 * 0 or -errno.
 */
#ifndef APISECFS_KIND_H
#define APISECFS_KIND_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <fuse_lowlevel.h>

#include "apisecfs/buf.h"

enum kind_type { KIND_DIR, KIND_FILE, KIND_LINK, KIND_CTL };

struct kind_ctx {
	fuse_ino_t ino;
	const char *name;
	const char *id;	   /* API id the node is about, or NULL */
	const char *ctx;   /* second id / filter value, or NULL */
	struct blob *obj;  /* compact JSON of the object shown, or NULL */
	uint64_t list_sig; /* dirs: signature of the current listing */
};

struct listing_entry {
	char *name;
	const struct kind *kind;
	char *id, *ctx;
	struct blob *content; /* files: bytes known now; links: target */
	struct blob *obj;     /* the API object a child directory shows */
	time_t mtime;
	/* Files whose bytes are rendered again on demand (no content here):
	 * their size and hash, and the list page that holds them. */
	size_t size;
	uint64_t hash;
	struct blob *src;
};

struct listing {
	struct listing_entry *v;
	size_t n, alloc;
	uint64_t sig;	/* signature of the API data behind it (0: static) */
	bool unchanged; /* same data as ctx->list_sig: keep the children */
};

struct ctl_handle; /* ctl.h */
struct res_row;	   /* restab.h; walked by rowwalk.h */

/* Hands a re-rendered child file to the engine: the child with API id id
 * gets content (the reference is taken). Returns 0 to go on. */
/* One re-rendered file of a list page: the item's id, the name its file
 * most likely has (see names_first_choice), its bytes (a reference). */
typedef int (*kind_emit_fn)(const char *id, const char *name,
			    struct blob *content, void *ud);

/* Control-file behaviour: collect input, act once, keep the reply. */
struct ctl_ops {
	/* Is the collected input complete (act now, so write() reports)? */
	bool (*complete)(const char *data, size_t len);
	/* Act on the input; fill reply (read back from the same fd). */
	int (*act)(const struct kind_ctx *c, const char *data, size_t len,
		   const char *idem_key, struct buf *reply);
	/* Reads that wait (scans/ID/wait): one look at the platform; 1 when
	 * done (reply filled), 0 not yet, or -errno. waitq.h calls it. */
	int (*poll)(const struct kind_ctx *c, struct buf *reply);
	/* Streams (events): state made per open, and reads and poll(2)
	 * the kind answers itself, exactly once, now or later (a read may
	 * wait for data without holding a thread). With blocking_read. */
	int (*stream_open)(void **state);
	void (*stream_close)(void *state);
	void (*stream_read)(void *state, fuse_req_t req, size_t size,
			    bool nonblock);
	unsigned (*stream_poll)(void *state, struct fuse_pollhandle *ph);
	bool readable;	    /* the reply can be read back (tokens/new) */
	bool blocking_read; /* read waits (scans/<id>/wait), no write */
	bool refresh_all;   /* success drops every cache, kernel's too */
};

struct kind {
	const char *name; /* for logs */
	enum kind_type type;
	const char *scope;	 /* needed to read or enter; NULL: none */
	const char *write_scope; /* needed to write; NULL: read-only */
	int (*list)(const struct kind_ctx *c, struct listing *out);
	int (*render)(const struct kind_ctx *c, struct buf *out,
		      time_t *mtime);
	/* Files too big to hold (stream.h): the list they page through and
	 * how one item becomes bytes. */
	const char *const *stream_paths; /* NULL-terminated */
	int (*stream_item)(const cJSON *item, struct buf *out);
	size_t (*stream_item_len)(const cJSON *item); /* its byte count */
	/* Directories that show one list of the platform: the row rowwalk
	 * lists them from when list is NULL, and, where their files are
	 * evictable (RES_FILE), renders those again from, a list page at a
	 * time. */
	const struct res_row *row;
	/* rm of this node (tokens/<name>.json revokes). */
	int (*remove)(const struct kind_ctx *c);
	const char *remove_scope;
	/* Directories holding such entries: the scope that lets rm delete
	 * them. With it the directory gets its owner's write bit, which the
	 * kernel asks of an unlink's directory (default_permissions). */
	const char *entries_remove_scope;
	const struct ctl_ops *ctl;
	/* Reachable by name only, left out of readdir: a file whose read
	 * blocks (scans/ID/wait) must not stall grep -r, find or tar. */
	bool hidden;
	/* Bytes that change on every read (.stats): rendered again at each
	 * lookup, getattr and open, never from a TTL; each open handle reads
	 * the snapshot taken at its open, through direct I/O, never from the
	 * kernel's page cache; a lookup's attributes get no lifetime. It
	 * needs an OPEN, so the data mount shows it as a link into the
	 * control mount. render must be cheap and make no request. */
	bool live;
};

/* The kind of a control file that acts on what is written (complete:
 * when to act) and keeps a reply the writer reads back (apps/new,
 * scans/new, tokens/new, ...): its ops and the scope it needs to write. */
#define KIND_CTL_ACT(name_, write_scope_, complete_, act_)               \
	{                                                                \
		.name = (name_), .type = KIND_CTL,                       \
		.write_scope = (write_scope_),                           \
		.ctl = &(const struct ctl_ops){ .complete = (complete_), \
						.act = (act_),           \
						.readable = true },      \
	}

/* Add an entry to out; takes the references content and obj (also on
 * failure). Returns 0 or -ENOMEM. */
int listing_add(struct listing *out, const char *name, const struct kind *k,
		const char *id, const char *ctx, struct blob *content,
		struct blob *obj, time_t mtime)
	__attribute__((warn_unused_result));
/* Room for n more entries, so a big listing is one exact allocation.
 * Returns 0 or -ENOMEM. */
int listing_reserve(struct listing *out, size_t n)
	__attribute__((warn_unused_result));
/* As listing_add, but taking name and id (malloc'd; id may be NULL)
 * instead of copying them, also on failure: a listing of 100,000
 * findings would otherwise hold every string twice at its peak. */
int listing_take(struct listing *out, char *name, const struct kind *k,
		 char *id, struct blob *content, struct blob *obj,
		 time_t mtime) __attribute__((warn_unused_result));
/* Add an evictable file the same way: its size and hash, the page src
 * (reference taken) to render its bytes again from, and the bytes when
 * they were kept (bytes may be NULL; reference taken). */
int listing_take_reloadable(struct listing *out, char *name,
			    const struct kind *k, char *id, size_t size,
			    uint64_t hash, struct blob *src,
			    struct blob *bytes, time_t mtime)
	__attribute__((warn_unused_result));
void listing_free(struct listing *l);

#endif
