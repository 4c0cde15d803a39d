/* test_tree.c - tree.c's operations as fs.c calls them, over the real
 * resource kinds and a canned platform (faketree.h): lookup (entries,
 * ENOENT, ENOTDIR), getattr, readdir and readdirplus (order, stable
 * snapshot, keep_cache, the kernel's counts), the kernel's lookup counts
 * and forget (a node the listing dropped lives until the last forget), a
 * file's bytes and size by inode and by handle, and the TTL on the fake
 * clock: past it an unchanged page (304) invalidates nothing, a changed
 * one gives the new bytes and an invalidation of the changed file alone.
 * No kernel, no network, no sleep. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "faketree.h"

#define TOKENS_PAGE "/v1/tokens?limit=500"

/* Three tokens; ci's scopes as given (so the page can change). */
static void publish_tokens(const char *ci_scopes, bool with_ci)
{
	char body[1024];
	snprintf(body, sizeof(body),
		 "{\"items\":[%s%s%s"
		 "{\"tokenId\":\"t2\",\"name\":\"deploy\","
		 "\"scopes\":[\"scans:write\"]},"
		 "{\"tokenId\":\"t3\",\"name\":\"old\",\"scopes\":[]}],"
		 "\"nextToken\":null}",
		 with_ci ? "{\"tokenId\":\"t1\",\"name\":\"ci\",\"scopes\":"
			 : "",
		 with_ci ? ci_scopes : "", with_ci ? "}," : "");
	fake_set(TOKENS_PAGE, body);
}

/* The bytes tokens/NAME.json should hold: the item, pretty. */
static struct blob *expected(const char *item)
{
	cJSON *j = cJSON_Parse(item);
	struct blob *b = restab_pretty(j);
	cJSON_Delete(j);
	return b;
}

/* All of file ino read by inode (the data mount's read), into out. */
static int read_ino(fuse_ino_t ino, char *out, size_t outsz)
{
	struct blob *held;
	char *bytes;
	int rc = tree_read_ino(ino, outsz, 0, &held, &bytes);
	if (rc >= 0)
		memcpy(out, bytes, (size_t)rc);
	if (held)
		blob_unref(held);
	else
		free(bytes);
	return rc;
}

static bool same_bytes(const char *got, int len, const struct blob *want)
{
	return want && len == (int)want->len &&
	       memcmp(got, want->data, want->len) == 0;
}

static const char *const ci_v1 =
	"{\"tokenId\":\"t1\",\"name\":\"ci\",\"scopes\":[\"vulns:read\"]}";
static const char *const ci_v2 =
	"{\"tokenId\":\"t1\",\"name\":\"ci\",\"scopes\":[\"vulns:read\","
	"\"vulns:write\"]}";

int main(void)
{
	struct fuse_entry_param e;
	struct stat st;
	char got[4096];

	CHECK(ft_start("[\"tokens:read\",\"vulns:read\"]") == 0);
	publish_tokens("[\"vulns:read\"]", true);

	/* ---- lookup ------------------------------------------------- */
	fake_zero();
	fuse_ino_t tokens =
		ft_lookup(FUSE_ROOT_ID, "tokens", TREE_VIEW_DATA, &e);
	CHECK(S_ISDIR(e.attr.st_mode) && (e.attr.st_mode & 0777) == 0555);
	CHECK(e.attr.st_uid == 1000 && e.generation == 1);
	CHECK(e.attr_timeout == 1.0 && e.entry_timeout == 1.0);
	CHECK(tree_lookup(TREE_VIEW_DATA, FUSE_ROOT_ID, "nope", &e) ==
	      -ENOENT);
	CHECK(fake.asked == 0); /* the root lists without the platform */
	CHECK(tree_lookup(TREE_VIEW_DATA, tokens, "nope.json", &e) == -ENOENT);
	CHECK(fake_asked_for(TOKENS_PAGE) == 1);
	struct blob *want = expected(ci_v1);
	fuse_ino_t ci = ft_lookup(tokens, "ci.json", TREE_VIEW_DATA, &e);
	CHECK(S_ISREG(e.attr.st_mode) && (e.attr.st_mode & 0777) == 0444);
	CHECK(want && e.attr.st_size == (off_t)want->len);
	CHECK(tree_lookup(TREE_VIEW_DATA, ci, "x", &e) == -ENOTDIR);
	fuse_ino_t deploy =
		ft_lookup(tokens, "deploy.json", TREE_VIEW_DATA, NULL);
	CHECK(fake_asked_for(TOKENS_PAGE) == 1); /* listed once, for the TTL */
	/* A directory the credential may not read: EACCES, nothing asked. */
	fake_zero();
	CHECK(tree_lookup(TREE_VIEW_DATA, FUSE_ROOT_ID, "scans", &e) == 0);
	CHECK(tree_lookup(TREE_VIEW_DATA, e.ino, "x", &e) == -EACCES);
	CHECK(fake.asked == 0);

	/* ---- getattr ------------------------------------------------ */
	CHECK(tree_getattr(TREE_VIEW_DATA, ci, &st) == 0);
	CHECK(S_ISREG(st.st_mode) && st.st_size == (off_t)want->len &&
	      st.st_ino == ci);
	CHECK(tree_getattr(TREE_VIEW_DATA, 999999, &st) == -ENOENT);

	/* ---- a file's bytes ----------------------------------------- */
	int n = read_ino(ci, got, sizeof(got));
	CHECK(same_bytes(got, n, want));
	struct blob *held;
	char *bytes;
	CHECK(tree_read_ino(ci, 5, 3, &held, &bytes) == 5 &&
	      memcmp(bytes, want->data + 3, 5) == 0);
	if (held)
		blob_unref(held);
	else
		free(bytes);
	CHECK(tree_read_ino(ci, 10, (off_t)want->len, &held, &bytes) == 0);
	if (held)
		blob_unref(held);
	else
		free(bytes);
	/* By handle (the control mount opens files): the same bytes;
	 * writing is refused. */
	struct tree_file *f;
	bool keep, direct;
	CHECK(tree_open(ci, O_RDONLY, 0, &f, &keep, &direct) == 0 && f);
	CHECK(tree_read(f, got, sizeof(got), 0) == (int)want->len &&
	      memcmp(got, want->data, want->len) == 0);
	tree_file_free(f);
	CHECK(tree_open(ci, O_WRONLY, 0, &f, &keep, &direct) == -EACCES && !f);
	CHECK(tree_open(tokens, O_RDONLY, 0, &f, &keep, &direct) == -EISDIR);

	/* ---- readdir ------------------------------------------------ */
	struct tree_dir *d;
	CHECK(tree_opendir(TREE_VIEW_DATA, tokens, &d, &keep) == 0 && d);
	CHECK(!keep); /* the kernel has not read this listing yet */
	static const char *const names[] = { ".",	    "..",
					     "new",	    "ci.json",
					     "deploy.json", "old.json" };
	CHECK(d && d->n == 6);
	for (size_t i = 0; d && i < d->n && i < 6; i++)
		CHECK(strcmp(d->v[i].name, names[i]) == 0);
	CHECK(d && d->v[0].ino == tokens && d->v[1].ino == FUSE_ROOT_ID &&
	      d->v[3].ino == ci && d->v[4].ino == deploy &&
	      S_ISREG(d->v[3].mode));
	/* readdirplus: the entries a lookup would give, each with the
	 * kernel's count taken; none for . and .. */
	long before = ft_nlookup(ci);
	for (size_t i = 0; d && i < d->n; i++) {
		tree_dirplus(TREE_VIEW_DATA, d, i, &e);
		CHECK(i < 2 ? e.ino == 0 : e.ino == d->v[i].ino);
		if (i == 3)
			CHECK(e.attr.st_size == (off_t)want->len &&
			      e.attr_timeout == 1.0);
		if (e.ino)
			tree_forget(e.ino, 1); /* as if not sent */
	}
	CHECK(ft_nlookup(ci) == before);
	tree_dirplus(TREE_VIEW_DATA, d, 3, &e);
	CHECK(ft_nlookup(ci) == before + 1);
	tree_forget(ci, 1);
	tree_dir_free(d);
	/* The same listing again: the kernel may keep what it read. */
	CHECK(tree_opendir(TREE_VIEW_DATA, tokens, &d, &keep) == 0 && keep);
	tree_dir_free(d);

	/* ---- the TTL: an unchanged page ----------------------------- */
	ft_inval_zero();
	fake_zero();
	fake_advance(FT_PAST_TTL);
	CHECK(tree_getattr(TREE_VIEW_DATA, ci, &st) == 0);
	CHECK(fake.asked == 1 && fake.not_modified == 1 && fake.bodies == 0);
	CHECK(st.st_size == (off_t)want->len);
	CHECK(ft_inval_all() == 0); /* the kernel keeps its pages */
	CHECK(tree_getattr(TREE_VIEW_DATA, ci, &st) == 0 && fake.asked == 1);
	n = read_ino(ci, got, sizeof(got));
	CHECK(same_bytes(got, n, want));

	/* ---- the TTL: a changed page -------------------------------- */
	publish_tokens("[\"vulns:read\",\"vulns:write\"]", true);
	struct blob *want2 = expected(ci_v2);
	CHECK(tree_getattr(TREE_VIEW_DATA, ci, &st) == 0);
	CHECK(st.st_size == (off_t)want->len); /* within the TTL: as was */
	fake_zero();
	fake_advance(FT_PAST_TTL);
	CHECK(tree_getattr(TREE_VIEW_DATA, ci, &st) == 0);
	CHECK(fake.bodies == 1 && want2 && st.st_size == (off_t)want2->len);
	CHECK(ft_inval_inode(ci, false) == 1); /* pages and attributes */
	CHECK(ft_inval_inode(deploy, false) == 0 &&
	      ft_inval_inode(deploy, true) == 0);
	n = read_ino(ci, got, sizeof(got));
	CHECK(same_bytes(got, n, want2));

	/* ---- lookup counts and forget ------------------------------- */
	CHECK(ft_nlookup(ci) == 1);
	CHECK(ft_lookup(tokens, "ci.json", TREE_VIEW_DATA, NULL) == ci);
	CHECK(ft_nlookup(ci) == 2);
	tree_forget(ci, 1);
	CHECK(ft_nlookup(ci) == 1);
	/* ci revoked elsewhere: the next listing drops it and the kernel
	 * forgets the name; the inode lives while the kernel holds it. */
	publish_tokens(NULL, false);
	ft_inval_zero();
	fake_advance(FT_PAST_TTL);
	CHECK(tree_lookup(TREE_VIEW_DATA, tokens, "ci.json", &e) == -ENOENT);
	CHECK(ft_inval_entry(tokens, "ci.json") == 1);
	CHECK(ft_inval_entry(tokens, "deploy.json") == 0);
	CHECK(tree_getattr(TREE_VIEW_DATA, ci, &st) == 0 &&
	      st.st_size == (off_t)want2->len);
	tree_forget(ci, 1);
	CHECK(ft_nlookup(ci) == -1);
	CHECK(tree_getattr(TREE_VIEW_DATA, ci, &st) == -ENOENT);
	/* A name forgotten while still listed stays (the listing holds
	 * it), with the same inode at the next lookup. */
	tree_forget(deploy, 1);
	CHECK(ft_nlookup(deploy) == 0);
	CHECK(ft_lookup(tokens, "deploy.json", TREE_VIEW_DATA, NULL) ==
	      deploy);
	tree_forget(deploy, 1);
	tree_forget(tokens, 1);

	blob_unref(want);
	blob_unref(want2);
	ft_stop();
	return check_report("test_tree");
}
