/* auth.c - the credential: ways in, bearer renewal, the scope set.
 *
 * Owns every secret (protected by state.lock) and wipes each one when it is
 * replaced. Renewal (a new bearer from OAuth, a login, token_cmd or a
 * changed token_file) is serialized by state.renew_lock, held across the
 * minting request so that concurrent 401s renew once; nothing else waits
 * on it. Calls authsrc (reading secrets), http (minting, and /v1/me after a
 * renewal), clock (expiries are wall-clock times), json and log. Never
 * logs a secret or an auth-call body.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "apisecfs/auth.h"
#include "apisecfs/authsrc.h"
#include "apisecfs/clock.h"
#include "apisecfs/authmint.h"
#include "apisecfs/http.h"
#include "apisecfs/json.h"
#include "apisecfs/log.h"

/* A token file is looked at for rotation at most this often. */
#define AUTH_RECHECK_MS 1000
/* After a renewal fails, no early refresh is tried again for this long
 * while the bearer held is still valid: a token endpoint that is down
 * would otherwise be asked (and the failure logged) at every request of
 * the refresh window. A refusal (401) or an expired bearer still renews
 * at once. */
#define AUTH_RETRY_MS 5000

enum way {
	WAY_NONE,
	WAY_TOKEN,
	WAY_TOKEN_FILE,
	WAY_TOKEN_CMD,
	WAY_OAUTH,
	WAY_LOGIN
};

static const char *const way_names[] = {
	[WAY_NONE] = "none",
	[WAY_TOKEN] = "api_token",
	[WAY_TOKEN_FILE] = "api_token",
	[WAY_TOKEN_CMD] = "api_token",
	[WAY_OAUTH] = "oauth",
	[WAY_LOGIN] = "login",
};

/* Lock order: renew_lock, then lock. lock is a leaf (node_lock's holders
 * take it for scopes; nothing is taken under it). renew_lock is held
 * across the minting request, so http's locks are taken under it; never
 * node_lock or the cache's (the scopes hook runs with no lock held). */
static struct {
	pthread_mutex_t lock;
	pthread_mutex_t renew_lock;
	enum way way;	    /* set once before threads start */
	const char *source; /* "token_file", "APISECFS_TOKEN", ...; ditto */
	char *bearer;	    /* protected by lock; wiped on replace */
	unsigned gen;	    /* lock */
	time_t expires_at;  /* lock; 0: unknown */
	time_t issued_at;   /* lock */
	/* What renewal needs; secrets among them are wiped at cleanup.
	 * URLs, names and paths: set once before threads start.
	 * client_secret, password: renew_lock (read again at each renewal). */
	char *base_url, *token_url;
	char *token_file, *token_cmd;
	char *client_id, *client_secret, *client_secret_file;
	char *username, *password, *password_file;
	struct stat file_st;  /* lock: identity of the token file last read */
	long long checked_ms; /* lock: clock_ms() of the last look at it */
	long long retry_ms;   /* lock: no early refresh before (clock_ms) */
	cJSON *me;	      /* /v1/me copy, protected by lock */
} state = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .renew_lock = PTHREAD_MUTEX_INITIALIZER };

/* Replace the bearer (lock held). Takes s. */
static void bearer_replace(char *s, time_t expires_at)
{
	authsrc_wipe(state.bearer);
	state.bearer = s;
	state.gen++;
	state.issued_at = clock_wall();
	state.expires_at = expires_at;
}

/* ---- choosing the way --------------------------------------------- */

static const char *const cred_keys[] = {
	"token",	 "token_file",	       "token_cmd", "client_id",
	"client_secret", "client_secret_file", "token_url", "username",
	"password",	 "password_file",      NULL
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Copy a credentials file's entries into state. A value given inline
 * (token, client_secret, password) stays in memory like a read secret. */
static int load_credentials_file(const char *path, char **token, char *err,
				 size_t errsz)
{
	struct authsrc_kv *kv;
	size_t n;
	if (authsrc_kv_read(path, cred_keys, &kv, &n, err, errsz))
		return -1;
	for (size_t i = 0; i < n; i++) {
		char **dst = NULL;
		const char *k = kv[i].key;
		if (!strcmp(k, "token"))
			dst = token;
		else if (!strcmp(k, "token_file"))
			dst = &state.token_file;
		else if (!strcmp(k, "token_cmd"))
			dst = &state.token_cmd;
		else if (!strcmp(k, "client_id"))
			dst = &state.client_id;
		else if (!strcmp(k, "client_secret"))
			dst = &state.client_secret;
		else if (!strcmp(k, "client_secret_file"))
			dst = &state.client_secret_file;
		else if (!strcmp(k, "token_url"))
			dst = &state.token_url;
		else if (!strcmp(k, "username"))
			dst = &state.username;
		else if (!strcmp(k, "password"))
			dst = &state.password;
		else if (!strcmp(k, "password_file"))
			dst = &state.password_file;
		if (dst) {
			authsrc_wipe(*dst);
			*dst = kv[i].value; /* moved */
			kv[i].value = NULL;
		}
	}
	authsrc_kv_free(kv, n);
	return 0;
}

/* Secrets given as they are (the environment, a credentials file's
 * inline values) get the check authsrc makes of the ones it reads. */
static int check_inline(char **env_token, char **file_token, char *err,
			size_t errsz)
{
	struct {
		char **secret;
		const char *what;
	} all[] = {
		{ env_token, "APISECFS_TOKEN" },
		{ file_token, "the credentials file's token" },
		{ &state.client_secret,
		  "the credentials file's client_secret" },
		{ &state.password, "the credentials file's password" },
	};
	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++) {
		if (*all[i].secret &&
		    !authsrc_printable(*all[i].secret, err, errsz, all[i].what,
				       "")) {
			*all[i].secret = NULL; /* wiped and freed */
			return -1;
		}
	}
	return 0;
}

static int pick_way(char *env_token, char *file_token, char *err, size_t errsz)
{
	int ways = !!env_token + !!file_token + !!state.token_file +
		   !!state.token_cmd + !!state.client_id + !!state.username;
	if (ways == 0) {
		snprintf(
			err, errsz,
			"no credential: use -o token_file=PATH, token_cmd=, "
			"client_id= with client_secret_file=, username= with "
			"password_file=, credentials=PATH, or APISECFS_TOKEN");
		return -1;
	}
	if (ways > 1) {
		snprintf(err, errsz,
			 "more than one credential given: choose exactly one "
			 "of token_file, token_cmd, client_id, username, a "
			 "token in the credentials file, or APISECFS_TOKEN");
		return -1;
	}
	if (state.client_id && !state.client_secret &&
	    !state.client_secret_file) {
		snprintf(err, errsz,
			 "client_id needs client_secret_file=PATH");
		return -1;
	}
	if (state.username && !state.password && !state.password_file) {
		snprintf(err, errsz, "username needs password_file=PATH");
		return -1;
	}
	state.way = (env_token || file_token) ? WAY_TOKEN
		    : state.token_file	      ? WAY_TOKEN_FILE
		    : state.token_cmd	      ? WAY_TOKEN_CMD
		    : state.client_id	      ? WAY_OAUTH
					      : WAY_LOGIN;
	return 0;
}

/* ---- minting ------------------------------------------------------ */

/* Re-read a secret file if one is configured, so a rotated client secret
 * or password is picked up at the next renewal. */
static int fresh_secret(char **secret, const char *file, char *err,
			size_t errsz)
{
	if (!file)
		return *secret ? 0 : -1;
	char *s = authsrc_file(file, NULL, err, errsz);
	if (!s)
		return -1;
	authsrc_wipe(*secret);
	*secret = s;
	return 0;
}

/* Obtain a new bearer the configured way (renew_lock held, not lock).
 * Returns 0, or an enum auth_fail with err set. */
static int mint(char **bearer, time_t *expires, char *err, size_t errsz)
{
	*expires = 0;
	*bearer = NULL;
	switch (state.way) {
	case WAY_TOKEN_FILE:
		pthread_mutex_lock(&state.lock);
		*bearer = authsrc_file(state.token_file, &state.file_st, err,
				       errsz);
		state.checked_ms = clock_ms();
		pthread_mutex_unlock(&state.lock);
		return *bearer ? 0 : AUTH_FAIL_CONFIG;
	case WAY_TOKEN_CMD:
		*bearer = authsrc_cmd(state.token_cmd, err, errsz);
		return *bearer ? 0 : AUTH_FAIL_CONFIG;
	case WAY_OAUTH:
		if (fresh_secret(&state.client_secret,
				 state.client_secret_file, err, errsz))
			return AUTH_FAIL_CONFIG;
		return authmint_oauth(state.token_url, state.client_id,
				      state.client_secret, bearer, expires,
				      err, errsz);
	case WAY_LOGIN:
		if (fresh_secret(&state.password, state.password_file, err,
				 errsz))
			return AUTH_FAIL_CONFIG;
		return authmint_login(state.base_url, state.username,
				      state.password, bearer, expires, err,
				      errsz);
	case WAY_TOKEN:
	case WAY_NONE: break;
	}
	snprintf(err, errsz, "this API token cannot be renewed");
	return AUTH_FAIL_REFUSED;
}

int auth_init(const struct auth_opts *o, char *err, size_t errsz)
{
	char *env_token = authsrc_env("APISECFS_TOKEN");
	char *file_token = NULL;
	int rc = AUTH_FAIL_CONFIG;

	state.base_url = strdup(o->base_url);
	state.token_file = dup_or_null(o->token_file);
	state.token_cmd = dup_or_null(o->token_cmd);
	state.client_id = dup_or_null(o->client_id);
	state.client_secret_file = dup_or_null(o->client_secret_file);
	state.username = dup_or_null(o->username);
	state.password_file = dup_or_null(o->password_file);
	state.token_url = dup_or_null(o->token_url);
	state.source = o->credentials  ? "credentials"
		       : o->token_file ? "token_file"
		       : o->token_cmd  ? "token_cmd"
		       : o->client_id  ? "client_secret_file"
		       : o->username   ? "password_file"
				       : "APISECFS_TOKEN";
	if (o->credentials &&
	    load_credentials_file(o->credentials, &file_token, err, errsz))
		goto out;
	if (check_inline(&env_token, &file_token, err, errsz) ||
	    pick_way(env_token, file_token, err, errsz))
		goto out;
	if (!state.token_url && state.way == WAY_OAUTH &&
	    asprintf(&state.token_url, "%s/oauth2/token", state.base_url) < 0)
		goto out;

	char *bearer = NULL;
	time_t expires = 0;
	if (state.way == WAY_TOKEN) {
		bearer = env_token ? env_token : file_token;
		env_token = file_token = NULL;
		rc = 0;
	} else {
		pthread_mutex_lock(&state.renew_lock);
		rc = mint(&bearer, &expires, err, errsz);
		pthread_mutex_unlock(&state.renew_lock);
		if (rc)
			goto out;
	}
	pthread_mutex_lock(&state.lock);
	bearer_replace(bearer, expires);
	pthread_mutex_unlock(&state.lock);
out:
	authsrc_wipe(env_token);
	authsrc_wipe(file_token);
	return rc;
}

void auth_cleanup(void)
{
	pthread_mutex_lock(&state.lock);
	bearer_replace(NULL, 0);
	char **all[] = { &state.base_url,	    &state.token_url,
			 &state.token_file,	    &state.token_cmd,
			 &state.client_id,	    &state.client_secret,
			 &state.client_secret_file, &state.username,
			 &state.password,	    &state.password_file };
	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++) {
		authsrc_wipe(*all[i]);
		*all[i] = NULL;
	}
	cJSON_Delete(state.me);
	state.me = NULL;
	pthread_mutex_unlock(&state.lock);
}

/* ---- renewal ------------------------------------------------------ */

/* After a renewal the identity (scopes, expiry) may have changed. */
static void refresh_identity(void)
{
	char authz[AUTH_SECRET_MAX + 16];
	char url[1024];
	unsigned gen;
	if (auth_authorization(authz, sizeof(authz), &gen))
		return;
	snprintf(url, sizeof(url), "%s/v1/me", state.base_url);
	struct http_req rq = { .method = "GET",
			       .url = url,
			       .authorization = authz,
			       .retryable = true };
	struct http_resp rs;
	if (http_do(&rq, &rs) == API_OK) {
		cJSON *me = json_parse(rs.body.data ? rs.body.data : "",
				       rs.body.len);
		if (cJSON_IsObject(me))
			auth_set_identity(me);
		cJSON_Delete(me);
	}
	explicit_bzero(authz, sizeof(authz));
	http_resp_free(&rs);
}

/* Renew if the bearer is still generation gen. blocking: wait for a
 * renewal in progress (after a 401) rather than skip it (early refresh).
 * Returns 0 if a newer bearer is held. */
static int renew(unsigned gen, bool blocking)
{
	char err[512];
	if (blocking)
		pthread_mutex_lock(&state.renew_lock);
	else if (pthread_mutex_trylock(&state.renew_lock))
		return -1; /* someone is renewing; keep the current bearer */
	pthread_mutex_lock(&state.lock);
	bool stale = state.gen == gen;
	pthread_mutex_unlock(&state.lock);
	if (!stale) {
		pthread_mutex_unlock(&state.renew_lock);
		return 0;
	}
	char *bearer;
	time_t expires;
	bool unchanged = false;
	int rc = mint(&bearer, &expires, err, sizeof(err));
	if (rc == 0) {
		pthread_mutex_lock(&state.lock);
		if (state.bearer && strcmp(state.bearer, bearer) == 0) {
			/* Same token (an unchanged file): no renewal. */
			authsrc_wipe(bearer);
			rc = -1;
			unchanged = true;
			snprintf(err, sizeof(err),
				 "the %s gives the same token",
				 state.way == WAY_TOKEN_CMD ? "token_cmd"
							    : "token file");
		} else {
			bearer_replace(bearer, expires);
		}
		pthread_mutex_unlock(&state.lock);
	}
	pthread_mutex_lock(&state.lock);
	state.retry_ms = rc ? clock_ms() + AUTH_RETRY_MS : 0;
	pthread_mutex_unlock(&state.lock);
	pthread_mutex_unlock(&state.renew_lock);
	if (rc == 0) {
		log_info("credential renewed (%s)", way_names[state.way]);
		refresh_identity();
		return 0;
	}
	if (blocking || !unchanged)
		log_err("cannot renew the credential: %s", err);
	return -1;
}

/* A token file changed on disk? (lock held) Cheap: at most one stat a
 * second. */
static bool token_file_changed_locked(void)
{
	long long now = clock_ms();
	if (state.way != WAY_TOKEN_FILE ||
	    now - state.checked_ms < AUTH_RECHECK_MS)
		return false;
	state.checked_ms = now;
	struct stat st;
	if (stat(state.token_file, &st))
		return false;
	return st.st_ino != state.file_st.st_ino ||
	       st.st_mtim.tv_sec != state.file_st.st_mtim.tv_sec ||
	       st.st_mtim.tv_nsec != state.file_st.st_mtim.tv_nsec ||
	       st.st_size != state.file_st.st_size;
}

/* Renew this long before a known expiry: a fifth of the lifetime, at
 * most a minute, so no request is sent with a bearer about to die. */
static bool expiring_locked(void)
{
	if (!state.expires_at)
		return false;
	time_t life = state.expires_at - state.issued_at;
	time_t margin = life / 5 < 60 ? life / 5 : 60;
	return clock_wall() >= state.expires_at - margin;
}

int auth_authorization(char *out, size_t outsz, unsigned *gen)
{
	pthread_mutex_lock(&state.lock);
	/* Past its expiry the bearer is useless: wait for the renewal in
	 * progress rather than earn a 401. Near it, renew if nobody is and
	 * no renewal failed in the last AUTH_RETRY_MS. */
	bool expired = state.expires_at && clock_wall() >= state.expires_at;
	bool due = token_file_changed_locked() ||
		   (expiring_locked() &&
		    (expired || clock_ms() >= state.retry_ms));
	unsigned g = state.gen;
	pthread_mutex_unlock(&state.lock);
	if (due)
		renew(g, expired);

	int rc = -1;
	pthread_mutex_lock(&state.lock);
	if (state.bearer) {
		int n = snprintf(out, outsz, "Bearer %s", state.bearer);
		rc = (n > 0 && (size_t)n < outsz) ? 0 : -1;
		*gen = state.gen;
	}
	pthread_mutex_unlock(&state.lock);
	return rc;
}

int auth_renew(unsigned gen)
{
	if (state.way == WAY_TOKEN) {
		log_err("the platform refused the API token (expired or "
			"revoked); remount with a new token");
		return -1;
	}
	return renew(gen, true);
}

/* ---- identity ----------------------------------------------------- */

/* Told when the scope set changes; set once, before any thread. */
static void (*scopes_hook)(void);

void auth_on_scopes_changed(void (*fn)(void))
{
	scopes_hook = fn;
}

void auth_set_identity(const cJSON *me)
{
	cJSON *copy = cJSON_Duplicate(me, true);
	pthread_mutex_lock(&state.lock);
	bool changed = !cJSON_Compare(
		cJSON_GetObjectItemCaseSensitive(state.me, "scopes"),
		cJSON_GetObjectItemCaseSensitive(copy, "scopes"), true);
	cJSON_Delete(state.me);
	state.me = copy;
	pthread_mutex_unlock(&state.lock);
	/* With no lock held: the hook takes the tree's. */
	if (changed && scopes_hook)
		scopes_hook();
}

bool auth_has_scope(const char *scope)
{
	bool yes = false;
	pthread_mutex_lock(&state.lock);
	const cJSON *scopes =
		cJSON_GetObjectItemCaseSensitive(state.me, "scopes");
	const cJSON *s;
	cJSON_ArrayForEach (s, scopes) {
		if (cJSON_IsString(s) && strcmp(s->valuestring, scope) == 0) {
			yes = true;
			break;
		}
	}
	pthread_mutex_unlock(&state.lock);
	return yes;
}

time_t auth_expires_at(void)
{
	pthread_mutex_lock(&state.lock);
	time_t exp = state.expires_at;
	if (!exp)
		exp = json_time(state.me, "expiresAt");
	pthread_mutex_unlock(&state.lock);
	return exp;
}

cJSON *auth_whoami_new(void)
{
	pthread_mutex_lock(&state.lock);
	cJSON *w = state.me ? cJSON_Duplicate(state.me, true)
			    : cJSON_CreateObject();
	time_t exp = state.expires_at;
	pthread_mutex_unlock(&state.lock);
	if (!w)
		return NULL;
	cJSON_DeleteItemFromObjectCaseSensitive(w, "credentialSource");
	cJSON_AddStringToObject(w, "credentialSource", state.source);
	if (exp) {
		char buf[32];
		struct tm tm;
		gmtime_r(&exp, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		cJSON_DeleteItemFromObjectCaseSensitive(w, "bearerExpiresAt");
		cJSON_AddStringToObject(w, "bearerExpiresAt", buf);
	}
	return w;
}
