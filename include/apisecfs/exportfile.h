/* exportfile.h - one file or link of an export, written into DIR only
 * when its bytes or target changed (see exportfile.c).
 */
#ifndef APISECFS_EXPORTFILE_H
#define APISECFS_EXPORTFILE_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "apisecfs/exportdir.h"

/* The size of the buffer exportfile_write needs. */
#define EXPORTFILE_CHUNK (128 * 1024)

struct exportfile_target {
	struct exportdir *xd;
	time_t started; /* the run's start: older mtimes are the data's */
	int dfd;
	const char *path, *name; /* for messages: path/name in DIR */
	bool fresh; /* nothing has that name in dfd: no old one to compare */
};

/* Whose a failure is: the tree's (the platform behind it) or DIR's. */
enum exportfile_fault { EXPORTFILE_TREE, EXPORTFILE_LOCAL };

/* Write file ino (size bytes, mtime) as t->name unless it holds those
 * bytes already; bufs has EXPORTFILE_CHUNK bytes of room. Returns 1 when
 * written, 0 when it was already, or -errno with *fault set; nothing is
 * half written. */
int exportfile_write(const struct exportfile_target *t, fuse_ino_t ino,
		     off_t size, time_t mtime, char *bufs,
		     enum exportfile_fault *fault)
	__attribute__((warn_unused_result));
/* The same for link ino. */
int exportfile_link(const struct exportfile_target *t, fuse_ino_t ino,
		    time_t mtime, enum exportfile_fault *fault)
	__attribute__((warn_unused_result));

#endif
