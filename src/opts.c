/* opts.c - apisecfs's options table, in the sshfs style, and profiles.
 *
 * Each -o option is one line of the table, writing straight into struct
 * opts. fstab-only words are dropped on purpose. A profile from the config
 * file is parsed through the same table before the command line, so the
 * command line wins. Calls only libfuse's option parser, safefile (the
 * config file's checks) and stdio (errors go to the terminal: nothing
 * runs yet).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apisecfs/events.h"
#include "apisecfs/junit.h"
#include "apisecfs/log.h"
#include "apisecfs/opts.h"
#include "apisecfs/safefile.h"

#define OPT(t, f, v)                           \
	{                                      \
		t, offsetof(struct opts, f), v \
	}

enum { KEY_HELP, KEY_VERSION, KEY_DEBUG, KEY_DISCARD, KEY_EXPORT };

static const struct fuse_opt opts_table[] = {
	OPT("config=%s", config, 0), OPT("profile=%s", profile, 0),
	OPT("url=%s", url, 0),

	OPT("token_file=%s", token_file, 0), OPT("token_cmd=%s", token_cmd, 0),
	OPT("credentials=%s", credentials, 0),
	OPT("client_id=%s", client_id, 0),
	OPT("client_secret_file=%s", client_secret_file, 0),
	OPT("token_url=%s", token_url, 0), OPT("username=%s", username, 0),
	OPT("password_file=%s", password_file, 0),
	OPT("ca_file=%s", ca_file, 0), OPT("cache_ttl=%u", cache_ttl, 0),
	OPT("timeout=%u", timeout, 0), OPT("retries=%u", retries, 0),
	OPT("cache_size=%u", cache_size, 0),
	OPT("disk_cache=%u", disk_cache, 0), OPT("max_conns=%u", pool_size, 0),
	OPT("max_conns=", set_max_conns, 1), OPT("poll=%u", poll_s, 0),
	OPT("events_queue=%u", events_queue, 0),
	OPT("ratelimit_wait=%u", ratelimit_wait, 0),
	/* Each also sets its flag: a second entry matches the same word. */
	OPT("uid=%u", uid, 0), OPT("uid=", set_uid, 1), OPT("gid=%u", gid, 0),
	OPT("gid=", set_gid, 1), OPT("umask=%o", umask, 0),
	OPT("umask=", set_umask, 1), OPT("log_level=%s", log_level, 0),
	OPT("junit_fail=%s", junit_fail, 0), OPT("insecure", insecure, 1),
	OPT("only=%s", only, 0),

	FUSE_OPT_KEY("-h", KEY_HELP), FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("--export", KEY_EXPORT), FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),

	/* fstab and mount(8) words that mean nothing to a FUSE daemon. */
	FUSE_OPT_KEY("_netdev", KEY_DISCARD),
	FUSE_OPT_KEY("auto", KEY_DISCARD), FUSE_OPT_KEY("noauto", KEY_DISCARD),
	FUSE_OPT_KEY("user", KEY_DISCARD), FUSE_OPT_KEY("users", KEY_DISCARD),
	FUSE_OPT_KEY("nofail", KEY_DISCARD),
	FUSE_OPT_KEY("nouser", KEY_DISCARD), FUSE_OPT_KEY("rw", KEY_DISCARD),
	FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct opts *o = data;
	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		/* URL MOUNTPOINT, or MOUNTPOINT alone with a profile: sorted
		 * out once the profile is known. */
		if (o->npos >= 2) {
			fprintf(stderr, "apisecfs: unexpected argument: %s\n",
				arg);
			return -1;
		}
		free(o->pos[o->npos]);
		o->pos[o->npos++] = strdup(arg);
		return 0;
	case KEY_HELP: o->show_help = 1; return 0;
	case KEY_VERSION: o->show_version = 1; return 0;
	case KEY_DEBUG:
		o->debug = 1;
		return 1; /* libfuse also traces its requests */
	case KEY_DISCARD: return 0;
	case KEY_EXPORT: o->export = 1; return 0;
	default: return 1;
	}
}

void opts_usage(const char *prog)
{
	printf("usage: %s [options] URL MOUNTPOINT\n"
	       "       %s -o profile=NAME [options] MOUNTPOINT\n"
	       "       %s --export [options] URL DIR\n"
	       "\n"
	       "Mount an API-security platform as files, or write the same\n"
	       "tree into DIR without FUSE (--export; incremental).\n"
	       "\n"
	       "general options:\n"
	       "    -h, --help             print this help and exit\n"
	       "    -V, --version          print versions and exit\n"
	       "    -f                     stay in the foreground\n"
	       "    -d, -o debug           debug log to stderr (implies -f)\n"
	       "    --export               write the tree into DIR, no mount\n"
	       "    -o log_level=LEVEL     error, warn, info (default), "
	       "debug\n"
	       "\n"
	       "credential (exactly one; never the secret itself):\n"
	       "    -o token_file=PATH     API token in a file (mode 0600),\n"
	       "                           re-read when it changes\n"
	       "    -o token_cmd=COMMAND   print a token (e.g. from a "
	       "vault);\n"
	       "                           run again on 401\n"
	       "    -o client_id=ID,client_secret_file=PATH\n"
	       "                           OAuth2 client credentials\n"
	       "    -o token_url=URL       OAuth2 token endpoint\n"
	       "                           (default URL/oauth2/token)\n"
	       "    -o username=NAME,password_file=PATH\n"
	       "                           service-account login (JWT)\n"
	       "    -o credentials=PATH    any of the above as key = value\n"
	       "    APISECFS_TOKEN=...     API token in the environment\n"
	       "\n"
	       "configuration:\n"
	       "    -o config=PATH         config file (default\n"
	       "                           ~/.config/apisecfs/config, then\n"
	       "                           /etc/apisecfs/config)\n"
	       "    -o profile=NAME        take URL and options from [NAME]\n"
	       "\n"
	       "connection:\n"
	       "    -o timeout=SECONDS     per-request deadline (15)\n"
	       "    -o retries=N           extra tries for safe requests (2)\n"
	       "    -o max_conns=N         concurrent requests (8; 16 for "
	       "--export)\n"
	       "    -o ratelimit_wait=SECONDS\n"
	       "                           how long 429s may hold one\n"
	       "                           operation (60)\n"
	       "    -o ca_file=PATH        trust this CA bundle for TLS\n"
	       "    -o insecure            do not verify TLS (not advised)\n"
	       "\n"
	       "caching:\n"
	       "    -o cache_ttl=SECONDS   how long data is fresh (60)\n"
	       "    -o cache_size=MIB      cap on cached responses (128)\n"
	       "    -o disk_cache=MIB      keep list pages evicted from\n"
	       "                           memory in an unnamed file in\n"
	       "                           $TMPDIR or /var/tmp (0: off)\n"
	       "\n"
	       "events (the live feed, read the file events):\n"
	       "    -o poll=SECONDS        ask what changed this often while\n"
	       "                           a reader is open (10; 0: no feed)\n"
	       "    -o events_queue=LINES  lines a reader may leave unread\n"
	       "                           before they are dropped (10000)\n"
	       "\n"
	       "ownership (with allow_other):\n"
	       "    -o uid=N,gid=N         owner shown for every file\n"
	       "                           (default: the mounting user)\n"
	       "    -o umask=MASK          octal mask on every mode (000)\n"
	       "\n"
	       "reports:\n"
	       "    -o junit_fail=SEVERITY findings failing a testcase of\n"
	       "                           report.junit.xml (high)\n"
	       "\n"
	       "export:\n"
	       "    -o only=PATH[:PATH...] write only these parts of the "
	       "tree\n"
	       "                           (e.g. vulns or apps/NAME)\n"
	       "\n"
	       "FUSE options: allow_other, default_permissions, ... (see "
	       "fuse(8))\n",
	       prog, prog, prog);
}

/* ---- config file and profiles ------------------------------------ */

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
		     s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* Open one candidate config file through safefile's rules (a regular
 * file of the mounting user or root that only they may write: it can name
 * a token_cmd that the mount runs). Returns the stream, or NULL with
 * *refused set when the file exists but breaks the rules. */
static FILE *open_one(const char *path, char *err, size_t errsz, bool *refused)
{
	int fd = safefile_open(path, "config file", 0, NULL, err, errsz);
	*refused = fd == SAFEFILE_REFUSED;
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "r");
	if (!f) {
		snprintf(err, errsz, "cannot read config file %s: %s", path,
			 strerror(errno));
		close(fd);
	}
	return f;
}

/* The named config file, else the user's, else the system's. A file that
 * exists but is refused stops the search: falling back would quietly use
 * another file than the one the user wrote. */
static FILE *open_config(const char *explicit, char *path, size_t pathsz,
			 char *err, size_t errsz, bool *refused)
{
	*refused = false;
	if (explicit) {
		snprintf(path, pathsz, "%s", explicit);
		return open_one(path, err, errsz, refused);
	}
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	FILE *f = NULL;
	if (xdg && *xdg)
		snprintf(path, pathsz, "%s/apisecfs/config", xdg);
	else if (home && *home)
		snprintf(path, pathsz, "%s/.config/apisecfs/config", home);
	else
		path[0] = '\0';
	if (path[0])
		f = open_one(path, err, errsz, refused);
	if (!f && !*refused) {
		snprintf(path, pathsz, "/etc/apisecfs/config");
		f = open_one(path, err, errsz, refused);
	}
	return f;
}

/* Append the profile's "key = value" lines to pargs as -o options. A
 * value of "yes"/"true" for a flag becomes the bare flag. */
static int read_profile(const struct opts *o, struct fuse_args *pargs)
{
	char path[4096], line[4096], want[512], err[4096 + 256];
	bool refused;
	FILE *f = open_config(o->config, path, sizeof(path), err, sizeof(err),
			      &refused);
	bool in = false, found = false;
	int lineno = 0, rc = 0;
	if (!f) {
		fprintf(stderr, "apisecfs: %s\n", err);
		return refused ? EXIT_CREDENTIAL : EXIT_USAGE;
	}
	snprintf(want, sizeof(want), "[%s]", o->profile);
	while (!rc && fgets(line, sizeof(line), f)) {
		char *t = trim(line);
		lineno++;
		if (!*t || *t == '#' || *t == ';')
			continue;
		if (*t == '[') {
			in = strcmp(t, want) == 0;
			found |= in;
			continue;
		}
		if (!in)
			continue;
		char *eq = strchr(t, '=');
		if (!eq) {
			fprintf(stderr,
				"apisecfs: %s line %d: expected key = "
				"value\n",
				path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *k = trim(t), *v = trim(eq + 1);
		char *opt = NULL;
		if (!strcmp(v, "yes") || !strcmp(v, "true"))
			rc = asprintf(&opt, "%s", k) < 0;
		else if (strcmp(v, "no") && strcmp(v, "false"))
			rc = asprintf(&opt, "%s=%s", k, v) < 0;
		if (opt && (fuse_opt_add_arg(pargs, "-o") ||
			    fuse_opt_add_arg(pargs, opt)))
			rc = -1;
		free(opt);
	}
	fclose(f);
	if (!rc && !found) {
		fprintf(stderr, "apisecfs: no profile [%s] in %s\n",
			o->profile, path);
		rc = -1;
	}
	return rc;
}

/* Find config= and profile= before anything else is parsed. */
static int pre_scan(struct fuse_args *args, struct opts *o)
{
	static const struct fuse_opt pre[] = { OPT("config=%s", config, 0),
					       OPT("profile=%s", profile, 0),
					       FUSE_OPT_END };
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	for (int i = 0; i < args->argc; i++)
		if (fuse_opt_add_arg(&copy, args->argv[i]))
			return -1;
	int rc = fuse_opt_parse(&copy, o, pre, NULL);
	fuse_opt_free_args(&copy);
	return rc;
}

/* Apply the profile: its options go through the same table first, and
 * whatever the table does not know (allow_other ...) goes on to libfuse. */
static int apply_profile(struct fuse_args *args, struct opts *o)
{
	struct fuse_args pargs = FUSE_ARGS_INIT(0, NULL);
	int rc = fuse_opt_add_arg(&pargs, args->argv[0]);
	if (!rc)
		rc = read_profile(o, &pargs);
	if (!rc)
		rc = fuse_opt_parse(&pargs, o, opts_table, opt_proc);
	for (int i = 1; !rc && i < pargs.argc; i++)
		rc = fuse_opt_add_arg(args, pargs.argv[i]);
	fuse_opt_free_args(&pargs);
	return rc;
}

/* ---- parse -------------------------------------------------------- */

/* True if url's authority ("scheme://AUTHORITY/...") holds a userinfo
 * part ("user[:password]@"). */
static bool has_userinfo(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, "/?#");
	return memchr(p, '@', n) != NULL;
}

/* A '/' that ends a path of -o only goes (a shell's completion of
 * vulns/ adds it): "vulns/:apps/x/" is "vulns:apps/x". In place. */
static void trim_only(char *only)
{
	char *w = only;
	for (const char *r = only; *r; r++)
		if (!(*r == '/' && r > only && r[-1] != '/' &&
		      (r[1] == ':' || !r[1])))
			*w++ = *r;
	*w = '\0';
}

/* -o only: up to OPTS_ONLY_MAX relative paths of the tree, separated by
 * ':', no "." or ".." or empty name in them, none inside another. */
static int check_only(const char *only)
{
	const char *p[OPTS_ONLY_MAX];
	size_t len[OPTS_ONLY_MAX], n = 0;
	for (const char *s = only;; s++) {
		size_t l = strcspn(s, ":");
		if (n == OPTS_ONLY_MAX) {
			fprintf(stderr, "apisecfs: only: at most %d paths\n",
				OPTS_ONLY_MAX);
			return -1;
		}
		p[n] = s;
		len[n++] = l;
		for (const char *c = s, *end = s + l;;) {
			const char *e = memchr(c, '/', (size_t)(end - c));
			size_t cl = (size_t)((e ? e : end) - c);
			if (!cl || (cl == 1 && c[0] == '.') ||
			    (cl == 2 && c[0] == '.' && c[1] == '.')) {
				fprintf(stderr,
					"apisecfs: only: paths are names of "
					"the tree separated by '/' (such as "
					"vulns or apps/payments-api), and "
					"paths are separated by ':'\n");
				return -1;
			}
			if (!e)
				break;
			c = e + 1;
		}
		s += l;
		if (!*s)
			break;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			if (i != j && len[i] <= len[j] &&
			    !strncmp(p[i], p[j], len[i]) &&
			    (len[i] == len[j] || p[j][len[i]] == '/')) {
				fprintf(stderr,
					"apisecfs: only: %.*s is inside "
					"%.*s\n",
					(int)len[j], p[j], (int)len[i], p[i]);
				return -1;
			}
	return 0;
}

static int check(struct opts *o)
{
	if (o->only && !o->export) {
		fprintf(stderr, "apisecfs: only is an option of --export\n");
		return -1;
	}
	if (o->only)
		trim_only(o->only);
	if (o->only && check_only(o->only))
		return -1;
	if (!o->url) {
		fprintf(stderr, "apisecfs: missing URL (see --help)\n");
		return -1;
	}
	if (!o->mountpoint) {
		fprintf(stderr, "apisecfs: missing %s (see --help)\n",
			o->export ? "DIR" : "MOUNTPOINT");
		return -1;
	}
	if (has_userinfo(o->url) ||
	    (o->token_url && has_userinfo(o->token_url))) {
		/* Not quoted: the part before '@' may be a password. */
		fprintf(stderr,
			"apisecfs: %s must not hold a user name or password "
			"(user:password@host): mount(8) and ps(1) would show "
			"it; give the credential with token_file=, "
			"credentials= or another option\n",
			has_userinfo(o->url) ? "the URL" : "token_url");
		return -1;
	}
	if (strncmp(o->url, "http://", 7) != 0 &&
	    strncmp(o->url, "https://", 8) != 0) {
		fprintf(stderr,
			"apisecfs: URL must start with https:// or http://: "
			"%s\n",
			o->url);
		return -1;
	}
	if (o->timeout < 1 || o->timeout > 3600) {
		fprintf(stderr, "apisecfs: timeout must be 1..3600 seconds\n");
		return -1;
	}
	if (o->retries > 10 || o->pool_size < 1 || o->pool_size > 64) {
		fprintf(stderr, "apisecfs: retries must be 0..10 and "
				"max_conns 1..64\n");
		return -1;
	}
	if (o->ratelimit_wait > 3600) {
		fprintf(stderr, "apisecfs: ratelimit_wait must be 0..3600 "
				"seconds\n");
		return -1;
	}
	/* (uid_t)-1 means "unchanged" to chown(2): never an owner. */
	if ((o->set_uid && o->uid == (unsigned)-1) ||
	    (o->set_gid && o->gid == (unsigned)-1) ||
	    (o->set_umask && o->umask > 0777)) {
		fprintf(stderr, "apisecfs: uid and gid must be numbers below "
				"4294967295, umask an octal mask up to "
				"0777\n");
		return -1;
	}
	if (o->cache_size < 1) {
		fprintf(stderr, "apisecfs: cache_size must be at least 1 "
				"MiB\n");
		return -1;
	}
	if (o->poll_s > 86400) {
		fprintf(stderr, "apisecfs: poll must be 0..86400 seconds\n");
		return -1;
	}
	if (o->events_queue < 1 || o->events_queue > 1000000) {
		fprintf(stderr, "apisecfs: events_queue must be 1..1000000 "
				"lines\n");
		return -1;
	}
	if (o->junit_fail && junit_severity(o->junit_fail) < 0) {
		fprintf(stderr, "apisecfs: junit_fail must be critical, high, "
				"medium, low or info\n");
		return -1;
	}
	if (o->log_level && log_level_parse(o->log_level) < 0) {
		fprintf(stderr,
			"apisecfs: log_level must be error, warn, info or "
			"debug\n");
		return -1;
	}
	return 0;
}

int opts_parse(struct fuse_args *args, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cache_ttl = 60;
	o->timeout = 15;
	o->retries = 2;
	o->cache_size = 128;
	o->pool_size = 8;
	o->poll_s = EVENTS_POLL_DEFAULT;
	o->events_queue = EVENTS_QUEUE_DEFAULT;
	o->ratelimit_wait = 60;
	if (pre_scan(args, o))
		return EXIT_USAGE;
	int rc = o->profile ? apply_profile(args, o) : 0;
	if (rc)
		return rc > 0 ? rc : EXIT_USAGE;
	if (fuse_opt_parse(args, o, opts_table, opt_proc) == -1)
		return EXIT_USAGE;
	if (o->show_help || o->show_version)
		return 0;
	/* Two positionals: URL MOUNTPOINT. One: the MOUNTPOINT when the
	 * profile (or -o url=) gave the URL, else the URL. */
	if (o->npos == 2) {
		free(o->url);
		o->url = o->pos[0];
		o->mountpoint = o->pos[1];
		o->pos[0] = o->pos[1] = NULL;
	} else if (o->npos == 1 && o->url) {
		o->mountpoint = o->pos[0];
		o->pos[0] = NULL;
	} else if (o->npos == 1) {
		o->url = o->pos[0];
		o->pos[0] = NULL;
	}
	/* An export's requests do not wait for a reader: it keeps more in
	 * flight unless told otherwise (export.h). */
	if (o->export && !o->set_max_conns)
		o->pool_size = OPTS_EXPORT_CONNS;
	if (check(o))
		return EXIT_USAGE;
	/* libfuse checks a mountpoint exists; an export makes its DIR. */
	if (o->export)
		return 0;
	return fuse_opt_add_arg(args, o->mountpoint) ? EXIT_USAGE : 0;
}

void opts_free(struct opts *o)
{
	char *all[] = { o->url,		o->mountpoint, o->config,
			o->profile,	o->token_file, o->token_cmd,
			o->credentials, o->client_id,  o->client_secret_file,
			o->token_url,	o->username,   o->password_file,
			o->ca_file,	o->log_level,  o->junit_fail,
			o->only,	o->pos[0],     o->pos[1] };
	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++)
		free(all[i]);
}
