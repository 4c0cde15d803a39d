/* authsrc.h - where secrets come from: files, the environment, a command,
 * a credentials file. Used by auth.c only.
 *
 * Every function returns a malloc'd secret (trimmed, non-empty) that the
 * caller wipes and frees, or NULL with a one-line reason in err that never
 * contains the secret.
 */
#ifndef APISECFS_AUTHSRC_H
#define APISECFS_AUTHSRC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* token_cmd gets this long to print a token. */
#define AUTHSRC_CMD_TIMEOUT_S 30

/* A file that is regular, the mounting user's or root's, not group/other
 * accessible (safefile.h), not empty, one line of printable text. st_out
 * (may be NULL) receives its identity for change detection. */
char *authsrc_file(const char *path, struct stat *st_out, char *err,
		   size_t errsz);
/* Take name from the environment and scrub it from the process's
 * environment block, so neither children nor /proc/PID/environ see it. */
char *authsrc_env(const char *name);
/* Run cmd with /bin/sh -c; its stdout (trimmed) is the secret. Killed
 * after AUTHSRC_CMD_TIMEOUT_S; a non-zero exit is an error. */
char *authsrc_cmd(const char *cmd, char *err, size_t errsz);

/* A credentials file: "key = value" lines, '#' comments. The file must be
 * private like any secret file. */
struct authsrc_kv {
	char *key, *value;
};
/* Parse path into *out (n entries); caller frees with authsrc_kv_free
 * (which wipes values). Returns 0 or -1 with err. Unknown keys are an
 * error, naming the key and line. */
int authsrc_kv_read(const char *path, const char *const *known,
		    struct authsrc_kv **out, size_t *n, char *err,
		    size_t errsz);
void authsrc_kv_free(struct authsrc_kv *kv, size_t n);
/* True if secret holds no control character (< 0x20, 0x7f). Otherwise
 * wipes and frees it and puts "<what><path> holds a control character..."
 * in err (the secret itself is never quoted). */
bool authsrc_printable(char *secret, char *err, size_t errsz, const char *what,
		       const char *path);
/* Wipe and free a secret; NULL is fine. */
void authsrc_wipe(char *secret);

#endif
