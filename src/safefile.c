/* safefile.c - opening configuration and credential files the mount may
 * trust (rules in safefile.h). A leaf: system calls and snprintf only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "apisecfs/safefile.h"

/* 0 if the file's identity passes the rules, else -1 with the reason. */
static int check(const char *path, const char *what, unsigned flags,
		 const struct stat *st, char *err, size_t errsz)
{
	uid_t me = getuid();
	unsigned mode = (unsigned)(st->st_mode & 07777);
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errsz, "%s %s is not a regular file", what,
			 path);
		return -1;
	}
	if (st->st_uid != me && st->st_uid != 0) {
		snprintf(err, errsz,
			 "%s %s belongs to uid %u, not to you (uid %u) or "
			 "root; run: chown %u %s",
			 what, path, (unsigned)st->st_uid, (unsigned)me,
			 (unsigned)me, path);
		return -1;
	}
	if ((flags & SAFEFILE_PRIVATE) && (mode & (S_IRWXG | S_IRWXO))) {
		snprintf(err, errsz,
			 "%s %s is accessible by group or others (mode %03o); "
			 "run: chmod 600 %s",
			 what, path, mode & 0777, path);
		return -1;
	}
	if (mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errsz,
			 "%s %s is writable by group or others (mode %03o); "
			 "run: chmod go-w %s",
			 what, path, mode & 0777, path);
		return -1;
	}
	return 0;
}

int safefile_open(const char *path, const char *what, unsigned flags,
		  struct stat *st_out, char *err, size_t errsz)
{
	struct stat st;
	/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for
	 * a writer, and the mount would hang before it could say why. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errsz, "cannot open %s %s: %s", what, path,
			 strerror(errno));
		return SAFEFILE_CANNOT;
	}
	if (fstat(fd, &st)) {
		snprintf(err, errsz, "cannot open %s %s: %s", what, path,
			 strerror(errno));
		close(fd);
		return SAFEFILE_CANNOT;
	}
	if (check(path, what, flags, &st, err, errsz)) {
		close(fd);
		return SAFEFILE_REFUSED;
	}
	/* A regular file: reads never block anyway, but leave the
	 * descriptor as a plain open would have. */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	if (st_out)
		*st_out = st;
	return fd;
}
