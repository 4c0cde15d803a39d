/* faketree.h - the engine (tree.c, sync.c, ctl.c and the real resource
 * kinds) over fakeplat.h's canned platform, for test_tree and test_ctl:
 * the fake clock, a credential whose scopes the test picks (as /v1/me
 * would give them), and the kernel replaced by notify.c's sink, which
 * records each invalidation the daemon would have sent. tree.c's entry
 * points take and return plain values (fs.c alone talks to libfuse), so
 * a test calls them as fs.c does. Header only, like fakeplat.h. */
#ifndef FAKETREE_H
#define FAKETREE_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/api.h"
#include "apisecfs/auth.h"
#include "apisecfs/cache.h"
#include "apisecfs/json.h"
#include "apisecfs/node.h"
#include "apisecfs/notify.h"
#include "apisecfs/prefetch.h"
#include "apisecfs/restab.h"
#include "apisecfs/rowwalk.h"
#include "apisecfs/tree.h"
#include "check.h"
#include "fakeplat.h"

#define FT_TTL_MS 1000
/* Whole seconds past the TTL (the platform's Date has seconds). */
#define FT_PAST_TTL (2 * FT_TTL_MS)

/* What the kernel was told since ft_inval_zero. */
static struct {
	pthread_mutex_t lock;
	int n;
	struct {
		fuse_ino_t ino;
		char name[64]; /* "": an inode */
		bool attr_only;
	} v[256];
} ft_inval = { .lock = PTHREAD_MUTEX_INITIALIZER };

static inline void ft_sink(fuse_ino_t ino, const char *name, bool attr_only)
{
	pthread_mutex_lock(&ft_inval.lock);
	if (ft_inval.n < 256) {
		ft_inval.v[ft_inval.n].ino = ino;
		snprintf(ft_inval.v[ft_inval.n].name,
			 sizeof(ft_inval.v[0].name), "%s", name ? name : "");
		ft_inval.v[ft_inval.n].attr_only = attr_only;
	}
	ft_inval.n++;
	pthread_mutex_unlock(&ft_inval.lock);
}

static inline void ft_inval_zero(void)
{
	notify_wait(); /* nothing queued before lands after */
	pthread_mutex_lock(&ft_inval.lock);
	ft_inval.n = 0;
	pthread_mutex_unlock(&ft_inval.lock);
}

/* Invalidations of inode ino (pages and attributes, or attr_only: its
 * attributes alone) delivered so far. */
static inline int ft_inval_inode(fuse_ino_t ino, bool attr_only)
{
	int k = 0;
	notify_wait();
	pthread_mutex_lock(&ft_inval.lock);
	for (int i = 0; i < ft_inval.n && i < 256; i++)
		k += ft_inval.v[i].ino == ino && !ft_inval.v[i].name[0] &&
		     ft_inval.v[i].attr_only == attr_only;
	pthread_mutex_unlock(&ft_inval.lock);
	return k;
}

/* Invalidations of the entry name in directory dir delivered so far. */
static inline int ft_inval_entry(fuse_ino_t dir, const char *name)
{
	int k = 0;
	notify_wait();
	pthread_mutex_lock(&ft_inval.lock);
	for (int i = 0; i < ft_inval.n && i < 256; i++)
		k += ft_inval.v[i].ino == dir &&
		     strcmp(ft_inval.v[i].name, name) == 0;
	pthread_mutex_unlock(&ft_inval.lock);
	return k;
}

/* Delivered so far, without waiting for what is queued. */
static inline int ft_inval_delivered(void)
{
	pthread_mutex_lock(&ft_inval.lock);
	int n = ft_inval.n;
	pthread_mutex_unlock(&ft_inval.lock);
	return n;
}

static inline int ft_inval_all(void)
{
	notify_wait();
	pthread_mutex_lock(&ft_inval.lock);
	int n = ft_inval.n;
	pthread_mutex_unlock(&ft_inval.lock);
	return n;
}

/* The stack as main.c builds it, with scopes (a JSON array) as the
 * credential's. */
static inline int ft_start(const char *scopes)
{
	char err[256], me[512];
	if (fake_start())
		return -1;
	setenv("APISECFS_TOKEN", "tok", 1);
	struct auth_opts ao = { .base_url = FAKE_BASE };
	struct cache_opts co = { .ttl_ms = FT_TTL_MS,
				 .max_bytes = 1 << 20,
				 .fetch = api_fetch };
	struct api_opts po = { .base_url = FAKE_BASE, .ttl_ms = FT_TTL_MS };
	struct tree_opts to = { .ttl_s = FT_TTL_MS / 1000.0,
				.content_max = 1 << 20,
				.uid = 1000,
				.gid = 1000,
				.root_kind = &restab_root_kind };
	if (auth_init(&ao, err, sizeof(err)) || cache_init(&co) ||
	    api_init(&po))
		return -1;
	prefetch_stop(); /* request counts stay exact (see test_api.c) */
	if (tree_init(&to))
		return -1;
	snprintf(me, sizeof(me), "{\"userId\":\"u1\",\"scopes\":%s}", scopes);
	cJSON *j = cJSON_Parse(me);
	auth_set_identity(j);
	cJSON_Delete(j);
	notify_set_sink(ft_sink);
	return notify_start(NULL, NULL);
}

static inline void ft_stop(void)
{
	notify_stop();
	tree_cleanup();
	rowwalk_cleanup();
	api_cleanup();
	cache_cleanup();
	auth_cleanup();
	fake_stop();
}

/* parent/name's entry as the kernel gets it (CHECKed to succeed). */
static inline fuse_ino_t ft_lookup(fuse_ino_t parent, const char *name,
				   enum tree_view v,
				   struct fuse_entry_param *e)
{
	struct fuse_entry_param tmp;
	if (!e)
		e = &tmp;
	int rc = tree_lookup(v, parent, name, e);
	CHECK(rc == 0 && e->ino);
	return rc ? 0 : e->ino;
}

/* The kernel's lookup count on ino; -1: no such inode. */
static inline long ft_nlookup(fuse_ino_t ino)
{
	struct node *n = node_get(ino);
	if (!n)
		return -1;
	node_lock();
	long k = (long)n->nlookup;
	node_unlock();
	node_put(n);
	return k;
}

#endif
