/* auth.h - the mount's credential: where it comes from, how it is renewed,
 * and what it may do (the scope set from GET /v1/me).
 *
 * Ways in: an API token (from a file re-read when it changes, from
 * APISECFS_TOKEN, from a credentials file, or printed by a command), OAuth2
 * client credentials, or a username/password login that returns a JWT.
 * The bearer secret lives only inside auth.c; callers get a copy of the
 * Authorization value that they wipe after use. A generation number tells
 * a 401 on an old bearer from one on the current bearer, so N threads
 * hitting 401 together renew once.
 */
#ifndef APISECFS_AUTH_H
#define APISECFS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "apisecfs/authdefs.h" /* AUTH_SECRET_MAX, enum auth_fail */

struct auth_opts {
	const char *base_url;		/* the platform, for login/OAuth */
	const char *token_file;		/* -o token_file= */
	const char *token_cmd;		/* -o token_cmd= */
	const char *client_id;		/* -o client_id= */
	const char *client_secret_file; /* -o client_secret_file= */
	const char *token_url;		/* -o token_url= (OAuth) */
	const char *username;		/* -o username= */
	const char *password_file;	/* -o password_file= */
	const char *credentials;	/* -o credentials= */
};

/* Load the credential and, for OAuth and login, obtain the first bearer
 * (http_init must have run). On failure returns an enum auth_fail with a
 * one-line reason in err (never containing a secret). */
int auth_init(const struct auth_opts *opts, char *err, size_t errsz)
	__attribute__((warn_unused_result));
void auth_cleanup(void); /* wipes every secret */

/* Copy "Bearer <secret>" into out; *gen receives the bearer's generation.
 * Renews first when a known expiry is near. Returns 0, or -1 if no
 * credential is held. The caller wipes out with explicit_bzero. */
int auth_authorization(char *out, size_t outsz, unsigned *gen)
	__attribute__((warn_unused_result));

/* Called after a 401 on a request made with generation gen. Returns 0 if a
 * newer bearer is now held (retry once), -1 if not (the reason was
 * logged). Concurrent callers for the same gen renew once. */
int auth_renew(unsigned gen);

/* Identity from /v1/me (borrowed, copied). Sets the scope set, and calls
 * the hook below if the set changed (no lock held). */
void auth_set_identity(const cJSON *me);
/* fn is called whenever the scope set changes (the mode bits shown
 * follow it). Call once, before any thread starts. */
void auth_on_scopes_changed(void (*fn)(void));
bool auth_has_scope(const char *scope);
/* When the credential stops working, as a unix time: the bearer's expiry
 * (OAuth, login) or the API token's expiresAt from /v1/me; 0 when unknown
 * or never. */
time_t auth_expires_at(void);
/* whoami document: the identity plus the auth way and source; never a
 * secret. Caller frees with cJSON_Delete. */
cJSON *auth_whoami_new(void);

#endif
