/* exportdir.c - the directory an export writes: checks, lock, atomic
 * replacement and removal, all below DIR and never through a link.
 *
 * Owns the descriptors of DIR and its state directory. Calls only libc
 * and log. See exportdir.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apisecfs/exportdir.h"
#include "apisecfs/log.h"

/* First line of DIR/.apisecfs-export/format; the second is "url URL". */
#define EXPORTDIR_MAGIC "apisecfs-export 1\n"
#define EXPORTDIR_FORMAT "format"
#define EXPORTDIR_TMP "tmp"
/* Deeper than any tree the mount shows: a deeper directory found in DIR
 * is removed link by link only this far (then EMLINK). */
#define EXPORTDIR_DEPTH_MAX 32

static const int DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER; /* a leaf */
static unsigned long tmp_seq; /* protected by seq_lock */

/* ---- opening DIR -------------------------------------------------- */

/* mkdir -p path (mode 0755 less the umask). */
static int make_path(const char *path)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* What DIR holds: 0 nothing, 1 more than our state directory. */
static int has_foreign(int root, bool *foreign)
{
	int fd = dup(root);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	if (!d) {
		int rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*foreign = false;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, EXPORTDIR_STATE))
			*foreign = true;
	closedir(d);
	return 0;
}

/* The URL of the earlier export whose state directory is state, into
 * url; false if state holds no format marker of ours. */
static bool read_format(int state, char *url, size_t urlsz)
{
	char buf[4096 + 64];
	int fd = openat(state, EXPORTDIR_FORMAT,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < (ssize_t)strlen(EXPORTDIR_MAGIC) ||
	    memcmp(buf, EXPORTDIR_MAGIC, strlen(EXPORTDIR_MAGIC)))
		return false;
	buf[n] = '\0';
	const char *u = buf + strlen(EXPORTDIR_MAGIC);
	size_t len = strncmp(u, "url ", 4) ? 0 : strcspn(u + 4, "\n");
	snprintf(url, urlsz, "%.*s", (int)len, len ? u + 4 : "");
	return true;
}

static int write_format(struct exportdir *xd, const char *url)
{
	char tmp[64], body[4096 + 64];
	int n = snprintf(body, sizeof(body), EXPORTDIR_MAGIC "url %s\n", url);
	if (n < 0 || (size_t)n >= sizeof(body))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), EXPORTDIR_FORMAT ".%ld", (long)getpid());
	int fd = openat(xd->state, tmp,
			O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0)
		return -errno;
	int rc = write(fd, body, (size_t)n) == n ? 0 : -EIO;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && renameat(xd->state, tmp, xd->state, EXPORTDIR_FORMAT))
		rc = -errno;
	if (rc)
		unlinkat(xd->state, tmp, 0);
	return rc;
}

DIR *exportdir_fdopen(int fd, int *rc)
{
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		*rc = -errno;
		if (fd >= 0)
			close(fd);
	}
	return d;
}

/* Empty a directory (the temporary files of a run cut short). */
static int empty_dir(int dirfd)
{
	int rc = 0;
	DIR *d = exportdir_fdopen(dup(dirfd), &rc);
	struct dirent *de;
	if (!d)
		return rc;
	while ((de = readdir(d)) && !rc)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = exportdir_remove(dirfd, de->d_name);
	closedir(d);
	return rc;
}

/* Name an unnamed file fd as dirfd/name (linkat through /proc, which
 * needs no privilege, unlike AT_EMPTY_PATH). */
static int link_anon(int fd, int dirfd, const char *name)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) ? -errno
								      : 0;
}

/* Does DIR's file system make unnamed files that can be named? (Not
 * every one has O_TMPFILE; /proc may be missing.) */
static bool anon_works(struct exportdir *xd)
{
	char name[32];
	int fd = openat(xd->tmp, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	snprintf(name, sizeof(name), "probe%ld", (long)getpid());
	bool ok = link_anon(fd, xd->tmp, name) == 0;
	close(fd);
	if (ok)
		unlinkat(xd->tmp, name, 0);
	return ok;
}

int exportdir_open(const char *path, const char *url, struct exportdir *xd,
		   char *err, size_t errsz)
{
	char old_url[4096];
	bool foreign = false, earlier = false;
	int rc;
	xd->root = xd->state = xd->tmp = -1;
	xd->same_url = xd->anon_ok = false;
	if ((rc = make_path(path))) {
		snprintf(err, errsz, "cannot create %s: %s", path,
			 strerror(-rc));
		return -1;
	}
	xd->root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (xd->root < 0) {
		snprintf(err, errsz, "bad directory %s: %s", path,
			 strerror(errno));
		return -1;
	}
	xd->state = openat(xd->root, EXPORTDIR_STATE, DIR_FLAGS);
	if (xd->state >= 0)
		earlier = read_format(xd->state, old_url, sizeof(old_url));
	if ((rc = has_foreign(xd->root, &foreign)))
		goto fail_errno;
	/* A state directory without its marker is a first run that stopped
	 * at once: still ours if nothing else is there. */
	if (foreign && !earlier) {
		snprintf(err, errsz,
			 "%s is neither empty nor an earlier export (no %s/); "
			 "refusing to write into it",
			 path, EXPORTDIR_STATE);
		goto fail;
	}
	if (xd->state < 0) {
		if (mkdirat(xd->root, EXPORTDIR_STATE, 0700) &&
		    errno != EEXIST)
			goto fail_errno;
		xd->state = openat(xd->root, EXPORTDIR_STATE, DIR_FLAGS);
		if (xd->state < 0)
			goto fail_errno;
	}
	if (flock(xd->state, LOCK_EX | LOCK_NB)) {
		snprintf(err, errsz, "another export is writing %s", path);
		goto fail;
	}
	xd->same_url = earlier && strcmp(old_url, url) == 0;
	if (!xd->same_url && (rc = write_format(xd, url)))
		goto fail_rc;
	if (mkdirat(xd->state, EXPORTDIR_TMP, 0700) && errno != EEXIST)
		goto fail_errno;
	xd->tmp = openat(xd->state, EXPORTDIR_TMP, DIR_FLAGS);
	if (xd->tmp < 0)
		goto fail_errno;
	if ((rc = empty_dir(xd->tmp)))
		goto fail_rc;
	xd->anon_ok = anon_works(xd);
	return 0;
fail_errno:
	rc = -errno;
fail_rc:
	snprintf(err, errsz, "bad directory %s: %s", path, strerror(-rc));
fail:
	exportdir_close(xd);
	return -1;
}

void exportdir_close(struct exportdir *xd)
{
	if (xd->tmp >= 0) {
		if (empty_dir(xd->tmp))
			log_warn("export: temporary files left in %s/%s",
				 EXPORTDIR_STATE, EXPORTDIR_TMP);
		close(xd->tmp);
	}
	if (xd->state >= 0)
		close(xd->state); /* and the lock with it */
	if (xd->root >= 0)
		close(xd->root);
	xd->root = xd->state = xd->tmp = -1;
}

/* ---- names and directories ---------------------------------------- */

bool exportdir_name_ok(const char *name, bool root)
{
	size_t n = strlen(name);
	return n > 0 && n <= NAME_MAX && strcmp(name, ".") &&
	       strcmp(name, "..") && !strchr(name, '/') &&
	       !(root && strcmp(name, EXPORTDIR_STATE) == 0);
}

int exportdir_subdir(int dirfd, const char *name, int *out, bool *made)
{
	*made = false;
	/* Most directories of a first run are new: make first. */
	if (!mkdirat(dirfd, name, 0755)) {
		*made = true;
		*out = openat(dirfd, name, DIR_FLAGS);
		return *out >= 0 ? 0 : -errno;
	}
	if (errno != EEXIST)
		return -errno;
	for (int tries = 0; tries < 2; tries++) {
		*out = openat(dirfd, name, DIR_FLAGS);
		if (*out >= 0)
			return 0;
		int rc = errno;
		if (rc == ENOENT) {
			if (mkdirat(dirfd, name, 0755) && errno != EEXIST)
				return -errno;
			continue;
		}
		if (rc != ENOTDIR && rc != ELOOP)
			return -rc;
		/* A file or a link where a directory goes: replace it. */
		if (unlinkat(dirfd, name, 0) && errno != ENOENT)
			return -errno;
	}
	*out = openat(dirfd, name, DIR_FLAGS);
	return *out >= 0 ? 0 : -errno;
}

int exportdir_open_path(const struct exportdir *xd, const char *path, int *out)
{
	int fd = dup(xd->root);
	char name[NAME_MAX + 1];
	if (fd < 0)
		return -errno;
	while (*path) {
		size_t n = strcspn(path, "/");
		if (n > NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(name, path, n);
		name[n] = '\0';
		int next = openat(fd, name, DIR_FLAGS);
		int err = errno;
		close(fd);
		if (next < 0)
			return -err;
		fd = next;
		path += n + (path[n] == '/');
	}
	*out = fd;
	return 0;
}

/* ---- temporary files and commits ---------------------------------- */

static void tmp_name(char *out, size_t outsz)
{
	pthread_mutex_lock(&seq_lock);
	unsigned long seq = tmp_seq++;
	pthread_mutex_unlock(&seq_lock);
	snprintf(out, outsz, "t%lu", seq);
}

int exportdir_tmp_file(struct exportdir *xd, int dirfd, bool fresh,
		       char *tmpname, size_t tmpsz, int *fd)
{
	if (fresh && xd->anon_ok) {
		*fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC,
			     0644);
		if (*fd >= 0) {
			tmpname[0] = '\0';
			return 0;
		}
	}
	tmp_name(tmpname, tmpsz);
	*fd = openat(xd->tmp, tmpname,
		     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     0644);
	return *fd >= 0 ? 0 : -errno;
}

int exportdir_commit_file(struct exportdir *xd, const char *tmpname, int *fd,
			  int dirfd, const char *name)
{
	int rc = 0;
	if (!tmpname[0]) {
		rc = link_anon(*fd, dirfd, name);
		if (rc == -EEXIST) {
			/* Taken after all: name it in tmp/ and rename it
			 * over, as any replacement. */
			char tmp[32];
			tmp_name(tmp, sizeof(tmp));
			if (!(rc = link_anon(*fd, xd->tmp, tmp)))
				rc = exportdir_commit(xd, tmp, dirfd, name);
		}
		if (close(*fd) && !rc)
			rc = -errno;
		*fd = -1;
		return rc;
	}
	if (close(*fd))
		rc = -errno;
	*fd = -1;
	if (!rc)
		return exportdir_commit(xd, tmpname, dirfd, name);
	exportdir_discard(xd, tmpname);
	return rc;
}

void exportdir_discard_file(struct exportdir *xd, const char *tmpname, int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	if (tmpname[0])
		exportdir_discard(xd, tmpname);
}

int exportdir_new_link(int dirfd, const char *name, const char *target,
		       time_t mtime)
{
	if (symlinkat(target, dirfd, name))
		return -errno;
	int rc = exportdir_set_mtime(dirfd, name, mtime);
	if (rc)
		unlinkat(dirfd, name, 0);
	return rc;
}

int exportdir_tmp_link(struct exportdir *xd, const char *target, time_t mtime,
		       char *tmpname, size_t tmpsz)
{
	tmp_name(tmpname, tmpsz);
	if (symlinkat(target, xd->tmp, tmpname))
		return -errno;
	int rc = exportdir_set_mtime(xd->tmp, tmpname, mtime);
	if (rc)
		exportdir_discard(xd, tmpname);
	return rc;
}

int exportdir_commit(struct exportdir *xd, const char *tmpname, int dirfd,
		     const char *name)
{
	int rc = 0;
	if (renameat(xd->tmp, tmpname, dirfd, name)) {
		rc = -errno;
		/* A directory where the file goes: it is not in the tree any
		 * more, so it goes. */
		if ((rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST) &&
		    !(rc = exportdir_remove(dirfd, name)) &&
		    renameat(xd->tmp, tmpname, dirfd, name))
			rc = -errno;
	}
	if (rc)
		exportdir_discard(xd, tmpname);
	return rc;
}

void exportdir_discard(struct exportdir *xd, const char *tmpname)
{
	unlinkat(xd->tmp, tmpname, 0);
}

/* ---- removal and times -------------------------------------------- */

static int remove_at(int at, const char *name, int depth)
{
	if (!unlinkat(at, name, 0) || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (depth >= EXPORTDIR_DEPTH_MAX)
		return -EMLINK;
	int rc = 0;
	DIR *d = exportdir_fdopen(openat(at, name, DIR_FLAGS), &rc);
	struct dirent *de;
	if (!d)
		return rc;
	while (!rc && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = remove_at(dirfd(d), de->d_name, depth + 1);
	closedir(d);
	if (!rc && unlinkat(at, name, AT_REMOVEDIR) && errno != ENOENT)
		rc = -errno;
	return rc;
}

int exportdir_remove(int dirfd, const char *name)
{
	return remove_at(dirfd, name, 0);
}

int exportdir_set_mtime(int dirfd, const char *name, time_t mtime)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
				  { .tv_sec = mtime, .tv_nsec = 0 } };
	int rc = name ? utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW)
		      : futimens(dirfd, ts);
	return rc ? -errno : 0;
}
