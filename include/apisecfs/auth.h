/* auth.h - the mount's credential: where it comes from, how it is renewed,
 * and what it may do (the scope set from GET /v1/me).
 *
 * The secret lives only inside auth.c; callers get a copy of the
 * Authorization header value in a buffer they wipe after use. A
 * generation number tells a 401 on an old credential from one on the
 * current credential, so N threads hitting 401 together renew once.
 */
#ifndef APISECFS_AUTH_H
#define APISECFS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

/* Secrets larger than this are refused (a file that is not a token). */
#define AUTH_SECRET_MAX 16384

struct auth_opts {
	const char *token_file; /* -o token_file= */
	bool token_env;		/* take APISECFS_TOKEN */
};

/* Load the credential. On failure returns -1 with a one-line reason in
 * err (never containing the secret). */
int auth_init(const struct auth_opts *opts, char *err, size_t errsz)
	__attribute__((warn_unused_result));
void auth_cleanup(void); /* wipes the secret */

/* Copy "Bearer <secret>" into out; *gen receives the credential's
 * generation. Returns 0, or -1 if no credential is held. The caller
 * wipes out with explicit_bzero after use. */
int auth_authorization(char *out, size_t outsz, unsigned *gen)
	__attribute__((warn_unused_result));

/* Called after a 401 on a request made with generation gen. Returns 0 if a
 * newer credential is now held (retry once), -1 if not (the reason was
 * logged). Concurrent callers for the same gen renew once. */
int auth_renew(unsigned gen);

/* Identity from /v1/me (borrowed, copied). Sets the scope set. */
void auth_set_identity(const cJSON *me);
bool auth_has_scope(const char *scope);
/* whoami document: the identity plus the auth way; never the secret.
 * Caller frees with cJSON_Delete. */
cJSON *auth_whoami_new(void);
const char *auth_way_name(void);

#endif
