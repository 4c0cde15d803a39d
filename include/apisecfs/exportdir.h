/* exportdir.h - the directory an export writes, and nothing outside it.
 *
 * Every change goes through a descriptor of DIR or of a directory opened
 * below it, by name, without following a link: a link planted in DIR is
 * replaced or removed, never written through. New bytes are written to a
 * temporary file in DIR/.apisecfs-export/tmp/ and renamed over the old
 * name, so a reader (or a run cut short) sees the old file or the new
 * one, never half of one. Where nothing has the name yet (a directory the
 * run made), a file is written unnamed and linked in once whole, and a
 * link is made in place: both appear whole, without a rename across two
 * directories. All functions return 0 or -errno unless said.
 */
#ifndef APISECFS_EXPORTDIR_H
#define APISECFS_EXPORTDIR_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* The export's own state in DIR: the format marker, kept pages, temp
 * files. Never a name of the tree's root. */
#define EXPORTDIR_STATE ".apisecfs-export"

struct exportdir {
	int root;      /* DIR */
	int state;     /* DIR/.apisecfs-export (locked while we run) */
	int tmp;       /* DIR/.apisecfs-export/tmp */
	bool same_url; /* an earlier export of the same URL */
	/* DIR's file system makes unnamed files (O_TMPFILE) that a link
	 * through /proc/self/fd names: a new file appears whole without a
	 * rename from tmp/, which locks two directories. */
	bool anon_ok;
};

/* A directory stream that owns fd (fdopendir), or NULL with *rc = -errno
 * and fd closed (fd < 0: the failed open's errno). */
DIR *exportdir_fdopen(int fd, int *rc);
/* Open DIR for an export of url, creating it (and missing parents) when
 * it does not exist. Refuses a DIR that is neither empty nor an earlier
 * export, and one another export is writing. On failure, returns -1 with
 * a one-line reason in err (the exit status is EXIT_MOUNT). */
int exportdir_open(const char *path, const char *url, struct exportdir *xd,
		   char *err, size_t errsz)
	__attribute__((warn_unused_result));
void exportdir_close(struct exportdir *xd);

/* Is name one the export may create in a directory (from the tree's
 * name sanitizer, checked again here)? root: name is in DIR itself. */
bool exportdir_name_ok(const char *name, bool root);

/* The directory name in dirfd, made (or put in place of what is there
 * that is no directory); *out is its new descriptor. *made: it was made
 * now, so it is empty. */
int exportdir_subdir(int dirfd, const char *name, int *out, bool *made)
	__attribute__((warn_unused_result));
/* Open DIR/path (names separated by '/'), following no link. */
int exportdir_open_path(const struct exportdir *xd, const char *path, int *out)
	__attribute__((warn_unused_result));

/* A new temporary file (mode 0644 less the umask) for dirfd/name: its
 * descriptor, and its name in tmpname, for exportdir_commit_file or
 * exportdir_discard_file. With fresh (dirfd/name does not exist) and
 * anon_ok, the file has no name yet (tmpname is ""): it is made in dirfd
 * and gets its name only when committed. */
int exportdir_tmp_file(struct exportdir *xd, int dirfd, bool fresh,
		       char *tmpname, size_t tmpsz, int *fd)
	__attribute__((warn_unused_result));
/* Put the whole temporary file *fd in place as dirfd/name and close it
 * (*fd is -1 after, also on failure, when the file is discarded). */
int exportdir_commit_file(struct exportdir *xd, const char *tmpname, int *fd,
			  int dirfd, const char *name)
	__attribute__((warn_unused_result));
/* Close and drop a temporary file that is not to be committed. */
void exportdir_discard_file(struct exportdir *xd, const char *tmpname,
			    int *fd);
/* Make the link dirfd/name to target with mtime where nothing has that
 * name (a fresh directory): symlinkat makes it whole in one step, so no
 * temporary is needed. -EEXIST when the name is taken after all. */
int exportdir_new_link(int dirfd, const char *name, const char *target,
		       time_t mtime) __attribute__((warn_unused_result));
/* A new temporary symlink to target with mtime. */
int exportdir_tmp_link(struct exportdir *xd, const char *target, time_t mtime,
		       char *tmpname, size_t tmpsz)
	__attribute__((warn_unused_result));
/* Rename temporary tmpname over dirfd/name (whatever is there: a
 * directory in the way is removed first). */
int exportdir_commit(struct exportdir *xd, const char *tmpname, int dirfd,
		     const char *name) __attribute__((warn_unused_result));
void exportdir_discard(struct exportdir *xd, const char *tmpname);

/* Remove dirfd/name and, for a directory, all it holds (links are
 * removed, not followed). */
int exportdir_remove(int dirfd, const char *name)
	__attribute__((warn_unused_result));
/* Set the mtime of dirfd/name (NULL: of dirfd itself), link or not. */
int exportdir_set_mtime(int dirfd, const char *name, time_t mtime)
	__attribute__((warn_unused_result));

#endif
