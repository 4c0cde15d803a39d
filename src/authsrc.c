/* authsrc.c - reading secrets from files, the environment, a command and
 * credentials files, with the checks ssh and s3fs make (safefile.h: a
 * private regular file of the mounting user or root).
 *
 * A leaf apart from buf, clock, esc, safefile and log (authdefs.h: the
 * cap it shares with auth.c). Secrets pass through buffers that are wiped
 * before they are freed; reasons never quote a secret. A secret is one line of printable text: one that holds a control
 * character (a CR LF would add a request header) is refused, whatever its
 * source.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apisecfs/authdefs.h"
#include "apisecfs/authsrc.h"
#include "apisecfs/buf.h"
#include "apisecfs/clock.h"
#include "apisecfs/esc.h"
#include "apisecfs/log.h"
#include "apisecfs/safefile.h"

extern char **environ;

/* Without close_range, descriptors up to this are closed one by one in
 * token_cmd's child (a limit of millions would make each run slow). */
#define AUTHSRC_FD_SWEEP_MAX 65536

void authsrc_wipe(char *secret)
{
	if (!secret)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

bool authsrc_printable(char *secret, char *err, size_t errsz, const char *what,
		       const char *path)
{
	if (!esc_has_ctl(secret, strlen(secret)))
		return true;
	snprintf(err, errsz,
		 "%s%s holds a control character inside the secret; a secret "
		 "is one line of printable text",
		 what, path);
	authsrc_wipe(secret);
	return false;
}

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A trimmed copy of b's bytes, or NULL if there are none. */
static char *trimmed_dup(const struct buf *b)
{
	const char *s = b->data ? b->data : "";
	size_t n = b->len;
	while (n && space(*s)) {
		s++;
		n--;
	}
	while (n && space(s[n - 1]))
		n--;
	return n ? strndup(s, n) : NULL;
}

/* Read fd to EOF into b (capped). Returns 0, or an errno. */
static int slurp(int fd, struct buf *b)
{
	char chunk[4096];
	ssize_t n;
	int rc = 0;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = errno;
			break;
		}
		if (buf_append(b, chunk, (size_t)n)) {
			rc = EFBIG;
			break;
		}
	}
	explicit_bzero(chunk, sizeof(chunk));
	return rc;
}

char *authsrc_file(const char *path, struct stat *st_out, char *err,
		   size_t errsz)
{
	struct stat st;
	struct buf b;
	int fd = safefile_open(path, "credential file", SAFEFILE_PRIVATE, &st,
			       err, errsz);
	if (fd < 0)
		return NULL;
	buf_init(&b, AUTH_SECRET_MAX);
	int rc = slurp(fd, &b);
	close(fd);
	char *out = rc ? NULL : trimmed_dup(&b);
	buf_free(&b, true);
	if (rc)
		snprintf(err, errsz, "cannot read credential file %s: %s",
			 path, strerror(rc));
	else if (!out)
		snprintf(err, errsz, "credential file %s is empty", path);
	else if (!authsrc_printable(out, err, errsz, "credential file ", path))
		out = NULL;
	if (out && st_out)
		*st_out = st;
	return out;
}

char *authsrc_env(const char *name)
{
	size_t n = strlen(name);
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, name, n) != 0 || (*e)[n] != '=')
			continue;
		char *v = *e + n + 1;
		struct buf b = { .data = v, .len = strlen(v) };
		char *t = trimmed_dup(&b);
		explicit_bzero(v, strlen(v));
		unsetenv(name);
		return t;
	}
	return NULL;
}

/* ---- token_cmd ---------------------------------------------------- */

/* Read the child's stdout until EOF or the deadline. */
static int read_until(int fd, struct buf *b, long long deadline)
{
	char chunk[1024];
	for (;;) {
		long long left = deadline - clock_ms();
		if (left <= 0)
			return ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return pr ? errno : ETIMEDOUT;
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_append(b, chunk, (size_t)n)) {
			explicit_bzero(chunk, sizeof(chunk));
			return EFBIG;
		}
	}
	explicit_bzero(chunk, sizeof(chunk));
	return 0;
}

/* In the forked child: the command gets stdin, stdout and stderr and
 * nothing else. Sockets to the platform, /dev/fuse and any descriptor a
 * library opened without O_CLOEXEC would otherwise reach a command that
 * may not be ours (a vault client, a script). Only async-signal-safe
 * calls: the parent has threads. */
static void close_above_stderr(void)
{
	if (close_range(STDERR_FILENO + 1, ~0U, 0) == 0)
		return;
	/* Kernels before 5.9 lack close_range. */
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > AUTHSRC_FD_SWEEP_MAX)
		max = AUTHSRC_FD_SWEEP_MAX;
	for (long fd = STDERR_FILENO + 1; fd < max; fd++)
		close((int)fd);
}

char *authsrc_cmd(const char *cmd, char *err, size_t errsz)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC)) {
		snprintf(err, errsz, "token_cmd: pipe: %s", strerror(errno));
		return NULL;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errsz, "token_cmd: fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return NULL;
	}
	if (pid == 0) {
		/* Child: stdout to the pipe, stdin from /dev/null, own
		 * process group so a timeout kills the whole pipeline. */
		setpgid(0, 0);
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		if (pfd[1] == STDOUT_FILENO) /* dup2 would keep O_CLOEXEC */
			fcntl(pfd[1], F_SETFD, 0);
		else
			dup2(pfd[1], STDOUT_FILENO);
		close_above_stderr();
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	struct buf b;
	buf_init(&b, AUTH_SECRET_MAX);
	int rc = read_until(pfd[0], &b,
			    clock_ms() + AUTHSRC_CMD_TIMEOUT_S * 1000LL);
	close(pfd[0]);
	if (rc)
		kill(-pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	char *out = NULL;
	if (rc == ETIMEDOUT)
		snprintf(err, errsz, "token_cmd did not finish within %d s",
			 AUTHSRC_CMD_TIMEOUT_S);
	else if (rc)
		snprintf(err, errsz, "token_cmd: %s", strerror(rc));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		snprintf(err, errsz, "token_cmd failed (exit status %d)",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	else if (!(out = trimmed_dup(&b)))
		snprintf(err, errsz, "token_cmd printed no token");
	else if (!authsrc_printable(out, err, errsz, "token_cmd's output", ""))
		out = NULL;
	buf_free(&b, true);
	return out;
}

/* ---- credentials files -------------------------------------------- */

void authsrc_kv_free(struct authsrc_kv *kv, size_t n)
{
	for (size_t i = 0; kv && i < n; i++) {
		free(kv[i].key);
		authsrc_wipe(kv[i].value);
	}
	free(kv);
}

static bool known_key(const char *k, const char *const *known)
{
	for (; *known; known++)
		if (strcmp(k, *known) == 0)
			return true;
	return false;
}

/* Parse one "key = value" line in place; 0, 1 (blank/comment) or -1. */
static int parse_line(char *line, char **key, char **value)
{
	while (space(*line))
		line++;
	if (!*line || *line == '#' || *line == ';')
		return 1;
	char *eq = strchr(line, '=');
	if (!eq)
		return -1;
	char *k_end = eq;
	while (k_end > line && space(k_end[-1]))
		k_end--;
	*k_end = '\0';
	char *v = eq + 1;
	while (space(*v))
		v++;
	size_t n = strlen(v);
	while (n && space(v[n - 1]))
		v[--n] = '\0';
	*key = line;
	*value = v;
	return **key ? 0 : -1;
}

int authsrc_kv_read(const char *path, const char *const *known,
		    struct authsrc_kv **out, size_t *n, char *err,
		    size_t errsz)
{
	struct stat st;
	struct buf b;
	struct authsrc_kv *kv = NULL;
	size_t count = 0;
	int rc = -1;
	*out = NULL;
	*n = 0;
	int fd = safefile_open(path, "credential file", SAFEFILE_PRIVATE, &st,
			       err, errsz);
	if (fd < 0)
		return -1;
	buf_init(&b, AUTH_SECRET_MAX * 4);
	int e = slurp(fd, &b);
	close(fd);
	if (e) {
		snprintf(err, errsz, "cannot read %s: %s", path, strerror(e));
		goto out;
	}
	char *next = b.data ? b.data : (char *)"";
	int lineno = 0;
	while (*next) {
		char *line = next, *nl = strchr(line, '\n');
		char *k, *v;
		next = nl ? nl + 1 : line + strlen(line);
		if (nl)
			*nl = '\0';
		lineno++;
		int pr = parse_line(line, &k, &v);
		if (pr == 1)
			continue;
		if (pr < 0 || !known_key(k, known)) {
			snprintf(err, errsz, "%s line %d: %s", path, lineno,
				 pr < 0 ? "expected key = value"
					: "unknown key");
			goto out;
		}
		struct authsrc_kv *nkv =
			realloc(kv, (count + 1) * sizeof(*kv));
		if (!nkv)
			goto nomem;
		kv = nkv;
		kv[count].key = strdup(k);
		kv[count].value = strdup(v);
		count++;
		if (!kv[count - 1].key || !kv[count - 1].value)
			goto nomem;
	}
	rc = 0;
	goto out;
nomem:
	snprintf(err, errsz, "out of memory reading %s", path);
out:
	buf_free(&b, true);
	if (rc) {
		authsrc_kv_free(kv, count);
	} else {
		*out = kv;
		*n = count;
	}
	return rc;
}
