/* sync.h - keeping the inode table in step with the platform.
 *
 * A directory's listing and a file's content are fetched through the kinds'
 * callbacks, reconciled with the nodes, and kept for the TTL; an action or
 * a refresh expires everything at once (sync_expire_all), and a listing
 * fetched across such an expiry never lands over a newer one. Nodes passed
 * in must be pinned; no lock may be held. All return 0 or -errno.
 */
#ifndef APISECFS_SYNC_H
#define APISECFS_SYNC_H

#include <stdbool.h>
#include <sys/stat.h>

struct kind;
struct kind_ctx;
struct node;
struct node_more;

void sync_init(double ttl_s);
/* node_init's free callback: drops the stream and the link table sync
 * hung on a node's optional part (node_lock held). */
void sync_more_free(struct node_more *m);

/* Mode bits from the credential's scopes: no read scope, no r/x bits; no
 * write scope, no w bit. */
mode_t sync_mode(const struct kind *k);
bool sync_may_read(const struct kind *k);
/* The credential's scopes changed: every node takes its new mode now, and
 * the kernel drops the attributes it holds for those that changed. */
void sync_scopes_changed(void);
/* Lock held: the context a kind callback gets for n (refs n's obj). */
void sync_ctx_of(const struct node *n, struct kind_ctx *c);

/* Make dir's listing fresh. */
int sync_listed(struct node *dir);
/* Make a lazily rendered or paged file's content fresh. */
int sync_content(struct node *n);
/* Make n fresh; with need_bytes, also hold its bytes (reloading evicted
 * ones from their list page). */
int sync_fresh(struct node *n, bool need_bytes);

/* Expire every listing and content (and the API cache); with kernel, the
 * kernel also drops the pages it cached. */
void sync_expire_all(bool kernel);

#endif
