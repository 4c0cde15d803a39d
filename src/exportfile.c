/* exportfile.c - one file or link of an export, written into DIR only
 * when its bytes or target changed.
 *
 * A file's bytes come from the tree in chunks (never held whole) and are
 * compared with the old file's as they come; a changed file is written
 * as a new unnamed file and put in place whole (exportdir.h), so a
 * reader of DIR never sees half of one. Owns no state: the caller (the
 * export's walk) reports failures and counts what was written. Calls
 * tree for bytes and link targets, exportdir for every change to DIR.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apisecfs/buf.h"
#include "apisecfs/exportfile.h"
#include "apisecfs/tree.h"

/* Bytes copied or compared at a time: a file's bytes are never held
 * whole (vulns/all.jsonl of 100,000 findings is ~100 MB). */
#define CHUNK EXPORTFILE_CHUNK

static int read_full(int fd, char *out, size_t len, off_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, out + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copy the first len bytes of old (equal to the new ones) into tmp. */
static int copy_prefix(int old, int tmp, off_t len, char *buf)
{
	for (off_t off = 0; off < len;) {
		size_t n = len - off < CHUNK ? (size_t)(len - off) : CHUNK;
		if (read_full(old, buf, n, off))
			return -EIO;
		int rc = write_full(tmp, buf, n);
		if (rc)
			return rc;
		off += (off_t)n;
	}
	return 0;
}

/* A chunk tree_read_ino handed out: inside a held blob, or malloc'd. */
static void chunk_free(struct blob *held, char *data)
{
	if (held)
		blob_unref(held);
	else
		free(data);
}

/* Write file ino of size bytes as t->name, unless it holds them already.
 * The engine's bytes are compared with the old file chunk by chunk; at
 * the first difference a new file starts with the equal prefix. bufs has
 * room for one chunk. */
int exportfile_write(const struct exportfile_target *t, fuse_ino_t ino,
		     off_t size, time_t mtime, char *bufs,
		     enum exportfile_fault *fault)
{
	char *ob = bufs;
	char tmpname[32];
	int tmp = -1, rc = 0;
	off_t off = 0;
	struct stat ost;
	int old = t->fresh ? -1
			   : openat(t->dfd, t->name,
				    O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					    O_CLOEXEC);
	if (old >= 0 && (fstat(old, &ost) || !S_ISREG(ost.st_mode) ||
			 ost.st_size != size)) {
		close(old);
		old = -1;
	}
	for (;;) {
		struct blob *held;
		char *eb;
		int n = tree_read_ino(ino, CHUNK, off, &held, &eb);
		if (n <= 0) {
			chunk_free(held, eb);
			if (n < 0) {
				*fault = EXPORTFILE_TREE;
				rc = n;
				goto out;
			}
			break;
		}
		if (old >= 0 && !read_full(old, ob, (size_t)n, off) &&
		    !memcmp(eb, ob, (size_t)n)) {
			chunk_free(held, eb);
			off += n;
			continue;
		}
		if (tmp < 0 &&
		    ((rc = exportdir_tmp_file(t->xd, t->dfd, t->fresh, tmpname,
					      sizeof(tmpname), &tmp)) ||
		     (old >= 0 && (rc = copy_prefix(old, tmp, off, ob))))) {
			chunk_free(held, eb);
			*fault = EXPORTFILE_LOCAL;
			goto out;
		}
		if (old >= 0) {
			close(old);
			old = -1;
		}
		rc = write_full(tmp, eb, (size_t)n);
		chunk_free(held, eb);
		if (rc) {
			*fault = EXPORTFILE_LOCAL;
			goto out;
		}
		off += n;
	}
	if (old >= 0 && off == ost.st_size) {
		/* The same bytes: keep the file, inode and all. */
		if (mtime < t->started && ost.st_mtime != mtime &&
		    (rc = exportdir_set_mtime(old, NULL, mtime)))
			*fault = EXPORTFILE_LOCAL;
		goto out;
	}
	if (tmp < 0 &&
	    ((rc = exportdir_tmp_file(t->xd, t->dfd, t->fresh, tmpname,
				      sizeof(tmpname), &tmp)) ||
	     (old >= 0 && (rc = copy_prefix(old, tmp, off, ob))))) {
		*fault = EXPORTFILE_LOCAL;
		goto out;
	}
	if ((rc = exportdir_set_mtime(tmp, NULL, mtime)))
		exportdir_discard_file(t->xd, tmpname, &tmp);
	else
		rc = exportdir_commit_file(t->xd, tmpname, &tmp, t->dfd,
					   t->name);
	if (rc)
		*fault = EXPORTFILE_LOCAL;
	else
		rc = 1;
	return rc;
out:
	if (tmp >= 0)
		exportdir_discard_file(t->xd, tmpname, &tmp);
	if (old >= 0)
		close(old);
	return rc;
}

/* Write link ino as t->name, unless it points there already. */
int exportfile_link(const struct exportfile_target *t, fuse_ino_t ino,
		    time_t mtime, enum exportfile_fault *fault)
{
	struct blob *target = NULL;
	char cur[PATH_MAX], tmpname[32];
	int rc = tree_readlink(TREE_VIEW_EXPORT, ino, &target);
	if (rc) {
		*fault = EXPORTFILE_TREE;
		return rc;
	}
	if (t->fresh) {
		/* Nothing to compare with or replace: made in place. */
		rc = exportdir_new_link(t->dfd, t->name, target->data, mtime);
		if (rc != -EEXIST) {
			blob_unref(target);
			if (rc) {
				*fault = EXPORTFILE_LOCAL;
				return rc;
			}
			return 1;
		}
	}
	ssize_t n = readlinkat(t->dfd, t->name, cur, sizeof(cur));
	if (n >= 0 && (size_t)n == target->len &&
	    !memcmp(cur, target->data, target->len)) {
		struct stat st;
		if (mtime < t->started &&
		    !fstatat(t->dfd, t->name, &st, AT_SYMLINK_NOFOLLOW) &&
		    st.st_mtime != mtime &&
		    (rc = exportdir_set_mtime(t->dfd, t->name, mtime)))
			*fault = EXPORTFILE_LOCAL;
		blob_unref(target);
		return rc;
	}
	rc = exportdir_tmp_link(t->xd, target->data, mtime, tmpname,
				sizeof(tmpname));
	if (!rc)
		rc = exportdir_commit(t->xd, tmpname, t->dfd, t->name);
	blob_unref(target);
	if (rc) {
		*fault = EXPORTFILE_LOCAL;
		return rc;
	}
	return 1;
}
