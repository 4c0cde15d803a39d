/* authmint.h - obtaining a bearer: OAuth2 client credentials and the
 * username/password login. Used by auth.c only.
 *
 * Both return 0 with a malloc'd bearer (the caller wipes it) and its
 * expiry (0 if unknown), or an enum auth_fail with a one-line reason in
 * err that names no secret.
 */
#ifndef APISECFS_AUTHMINT_H
#define APISECFS_AUTHMINT_H

#include <stddef.h>
#include <time.h>

int authmint_oauth(const char *token_url, const char *client_id,
		   const char *client_secret, char **bearer, time_t *expires,
		   char *err, size_t errsz);
int authmint_login(const char *base_url, const char *username,
		   const char *password, char **bearer, time_t *expires,
		   char *err, size_t errsz);
/* The "exp" claim of a JWT (not verified: the platform checks it). */
time_t authmint_jwt_exp(const char *jwt);

#endif
