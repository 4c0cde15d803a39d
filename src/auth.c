/* auth.c - credential loading, rotation and the scope set.
 *
 * Owns the secret (protected by state.lock) and wipes it whenever it is
 * replaced. Today's ways in: an API token from a file (re-read when the file
 * changes, so a vault agent can rotate it under a live mount) or from
 * APISECFS_TOKEN. auth_renew() is the seam where OAuth client credentials
 * and login JWTs plug in: they mint a new bearer instead of re-reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apisecfs/auth.h"
#include "apisecfs/buf.h"
#include "apisecfs/json.h"
#include "apisecfs/log.h"

/* A token file is looked at for rotation at most this often. */
#define AUTH_RECHECK_S 1

extern char **environ;

static struct {
	pthread_mutex_t lock;
	char *secret; /* protected by lock; wiped on replace */
	unsigned gen;
	const char *way; /* "api_token" */
	char *token_file;
	struct stat file_st; /* identity of the file last read */
	time_t checked_at;
	cJSON *me; /* /v1/me copy, protected by lock */
} state = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void secret_replace(char *s)
{
	if (state.secret) {
		explicit_bzero(state.secret, strlen(state.secret));
		free(state.secret);
	}
	state.secret = s;
	state.gen++;
}

/* Trim surrounding white space in place; returns the new start. */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
		     s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Read a secret file: must be a regular file, not group/other readable,
 * not empty. Returns a malloc'd trimmed secret or NULL with err set. */
static char *read_secret_file(const char *path, struct stat *st_out,
			      char *err, size_t errsz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errsz, "cannot open credential file %s: %s",
			 path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "credential file %s is not a regular file",
			 path);
		close(fd);
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errsz,
			 "credential file %s is accessible by group or others "
			 "(mode %03o); run: chmod 600 %s",
			 path, (unsigned)(st.st_mode & 0777), path);
		close(fd);
		return NULL;
	}
	struct buf b;
	buf_init(&b, AUTH_SECRET_MAX);
	char chunk[4096];
	ssize_t n;
	int rc = 0;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if ((rc = buf_append(&b, chunk, (size_t)n)))
			break;
	explicit_bzero(chunk, sizeof(chunk));
	close(fd);
	if (n < 0 || rc) {
		snprintf(err, errsz, "cannot read credential file %s: %s", path,
			 rc ? "too large" : strerror(errno));
		buf_free(&b, true);
		return NULL;
	}
	char *t = trim(b.data ? b.data : (char *)"");
	char *out = *t ? strdup(t) : NULL;
	if (!*t)
		snprintf(err, errsz, "credential file %s is empty", path);
	buf_free(&b, true);
	if (st_out)
		*st_out = st;
	return out;
}

/* Take APISECFS_TOKEN and scrub it from our environment block, so that
 * neither children nor /proc/PID/environ carry it. */
static char *take_env_token(void)
{
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "APISECFS_TOKEN=", 15) != 0)
			continue;
		char *v = *e + 15;
		char *t = strdup(trim(v));
		explicit_bzero(v, strlen(v));
		unsetenv("APISECFS_TOKEN");
		return t;
	}
	return NULL;
}

int auth_init(const struct auth_opts *opts, char *err, size_t errsz)
{
	char *s = NULL;
	if (opts->token_file) {
		s = read_secret_file(opts->token_file, &state.file_st, err,
				     errsz);
		if (!s)
			return -1;
		state.token_file = strdup(opts->token_file);
		state.checked_at = time(NULL);
	} else if (opts->token_env) {
		s = take_env_token();
		if (!s || !*s) {
			free(s);
			snprintf(err, errsz, "APISECFS_TOKEN is empty");
			return -1;
		}
	} else {
		snprintf(err, errsz,
			 "no credential: use -o token_file=PATH or set "
			 "APISECFS_TOKEN");
		return -1;
	}
	state.way = "api_token";
	pthread_mutex_lock(&state.lock);
	secret_replace(s);
	pthread_mutex_unlock(&state.lock);
	return 0;
}

void auth_cleanup(void)
{
	pthread_mutex_lock(&state.lock);
	secret_replace(NULL);
	free(state.token_file);
	state.token_file = NULL;
	cJSON_Delete(state.me);
	state.me = NULL;
	pthread_mutex_unlock(&state.lock);
}

/* Re-read the token file if it changed on disk. Called with lock held.
 * Returns true if the secret changed. */
static bool reload_file_locked(bool force)
{
	time_t now = time(NULL);
	if (!state.token_file || (!force && now - state.checked_at <
						    AUTH_RECHECK_S))
		return false;
	state.checked_at = now;
	struct stat st;
	if (stat(state.token_file, &st))
		return false;
	if (!force && st.st_ino == state.file_st.st_ino &&
	    st.st_mtim.tv_sec == state.file_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == state.file_st.st_mtim.tv_nsec &&
	    st.st_size == state.file_st.st_size)
		return false;
	char err[256];
	char *s = read_secret_file(state.token_file, &state.file_st, err,
				   sizeof(err));
	if (!s) {
		log_warn("token file not reloaded: %s", err);
		return false;
	}
	if (state.secret && strcmp(s, state.secret) == 0) {
		explicit_bzero(s, strlen(s));
		free(s);
		return false;
	}
	secret_replace(s);
	log_info("token file %s changed: using the new token",
		 state.token_file);
	return true;
}

int auth_authorization(char *out, size_t outsz, unsigned *gen)
{
	pthread_mutex_lock(&state.lock);
	reload_file_locked(false);
	int rc = -1;
	if (state.secret) {
		int n = snprintf(out, outsz, "Bearer %s", state.secret);
		rc = (n > 0 && (size_t)n < outsz) ? 0 : -1;
		*gen = state.gen;
	}
	pthread_mutex_unlock(&state.lock);
	return rc;
}

int auth_renew(unsigned gen)
{
	int rc = -1;
	pthread_mutex_lock(&state.lock);
	if (state.gen != gen)
		rc = 0; /* another thread already renewed */
	else if (reload_file_locked(true))
		rc = 0;
	pthread_mutex_unlock(&state.lock);
	if (rc)
		log_err("the platform refused the API token (expired or "
			"revoked)%s",
			state.token_file ? "; write a new one to the token file"
					 : "; remount with a new token");
	return rc;
}

void auth_set_identity(const cJSON *me)
{
	cJSON *copy = cJSON_Duplicate(me, true);
	pthread_mutex_lock(&state.lock);
	cJSON_Delete(state.me);
	state.me = copy;
	pthread_mutex_unlock(&state.lock);
}

bool auth_has_scope(const char *scope)
{
	bool yes = false;
	pthread_mutex_lock(&state.lock);
	const cJSON *scopes = cJSON_GetObjectItemCaseSensitive(state.me,
								"scopes");
	const cJSON *s;
	cJSON_ArrayForEach(s, scopes) {
		if (cJSON_IsString(s) && strcmp(s->valuestring, scope) == 0) {
			yes = true;
			break;
		}
	}
	pthread_mutex_unlock(&state.lock);
	return yes;
}

cJSON *auth_whoami_new(void)
{
	pthread_mutex_lock(&state.lock);
	cJSON *w = state.me ? cJSON_Duplicate(state.me, true)
			    : cJSON_CreateObject();
	pthread_mutex_unlock(&state.lock);
	if (!w)
		return NULL;
	cJSON_DeleteItemFromObjectCaseSensitive(w, "credentialSource");
	cJSON_AddStringToObject(w, "credentialSource",
				state.token_file ? "token_file"
						 : "APISECFS_TOKEN");
	return w;
}

const char *auth_way_name(void)
{
	return state.way ? state.way : "none";
}
