/* safefile.h - opening the files a mount trusts: the configuration file
 * and every file that holds or names a credential.
 *
 * The rules are ssh's: the file must be a regular file, owned by the user
 * who mounts (the real uid) or by root, and not writable by its group or
 * others, since whoever can write it decides what the mount runs
 * (token_cmd) and where it sends the credential. A secret file must also
 * be private: no group or other access at all. The check is made on the
 * opened descriptor (fstat), and the open itself cannot hang on a FIFO or
 * a device: it is made with O_NONBLOCK, and what is not a regular file is
 * refused before any read. Symbolic links are followed (a secret agent or
 * systemd's credentials directory may use them); the target is checked.
 */
#ifndef APISECFS_SAFEFILE_H
#define APISECFS_SAFEFILE_H

#include <stddef.h>
#include <sys/stat.h>

/* Refuse any group or other permission bit, not only write (secrets). */
#define SAFEFILE_PRIVATE 1u

/* Failures of safefile_open. */
enum safefile_fail {
	SAFEFILE_CANNOT = -1,  /* could not open it (missing, unreadable) */
	SAFEFILE_REFUSED = -2, /* opened, but the rules above refuse it */
};

/* Open path for reading (O_CLOEXEC, blocking reads). what names the file
 * in the reason ("credential file", "config file"). Returns the fd, with
 * its identity in *st (may be NULL), or an enum safefile_fail with a
 * one-line reason in err that says how to fix it. */
int safefile_open(const char *path, const char *what, unsigned flags,
		  struct stat *st, char *err, size_t errsz)
	__attribute__((warn_unused_result));

#endif
