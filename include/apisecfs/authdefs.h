/* authdefs.h - what auth.c shares with the leaves it calls (authsrc.c,
 * authmint.c): the cap on a secret and the classes of failure.
 *
 * Apart from auth.h so that the leaves include no header of the module
 * above them; auth.h includes this for its own callers.
 */
#ifndef APISECFS_AUTHDEFS_H
#define APISECFS_AUTHDEFS_H

/* Secrets larger than this are refused (a file that is not a token). */
#define AUTH_SECRET_MAX 16384

/* Exit-worthy failures of auth_init (and of authmint's calls). */
enum auth_fail {
	AUTH_FAIL_CONFIG = 1, /* no way, two ways, unreadable file ... */
	AUTH_FAIL_REFUSED,    /* the platform said no (401/403) */
	AUTH_FAIL_PLATFORM,   /* could not reach it to log in */
};

#endif
