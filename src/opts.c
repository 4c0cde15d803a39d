/* opts.c - apisecfs's options table, in the sshfs style.
 *
 * Each -o option is one line of the table, writing straight into struct
 * opts. fstab-only words are dropped on purpose. Calls only libfuse's
 * option parser and stdio (errors go to the terminal: nothing runs yet).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apisecfs/log.h"
#include "apisecfs/opts.h"

#define OPT(t, f, v) { t, offsetof(struct opts, f), v }

enum { KEY_HELP, KEY_VERSION, KEY_DEBUG, KEY_DISCARD };

static const struct fuse_opt opts_table[] = {
	OPT("token_file=%s", token_file, 0),
	OPT("ca_file=%s", ca_file, 0),
	OPT("cache_ttl=%u", cache_ttl, 0),
	OPT("timeout=%u", timeout, 0),
	OPT("retries=%u", retries, 0),
	OPT("cache_size=%u", cache_size, 0),
	OPT("max_conns=%u", pool_size, 0),
	OPT("log_level=%s", log_level, 0),
	OPT("insecure", insecure, 1),

	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),

	/* fstab and mount(8) words that mean nothing to a FUSE daemon. */
	FUSE_OPT_KEY("_netdev", KEY_DISCARD),
	FUSE_OPT_KEY("auto", KEY_DISCARD),
	FUSE_OPT_KEY("noauto", KEY_DISCARD),
	FUSE_OPT_KEY("user", KEY_DISCARD),
	FUSE_OPT_KEY("users", KEY_DISCARD),
	FUSE_OPT_KEY("nofail", KEY_DISCARD),
	FUSE_OPT_KEY("nouser", KEY_DISCARD),
	FUSE_OPT_KEY("rw", KEY_DISCARD),
	FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct opts *o = data;
	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!o->url) {
			o->url = strdup(arg);
			return 0;
		}
		return 1; /* the mountpoint: libfuse's */
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_DEBUG:
		o->debug = 1;
		return 1; /* libfuse also traces its requests */
	case KEY_DISCARD:
		return 0;
	default:
		return 1;
	}
}

void opts_usage(const char *prog)
{
	printf("usage: %s [options] URL MOUNTPOINT\n"
	       "\n"
	       "Mount an API-security platform as files.\n"
	       "\n"
	       "general options:\n"
	       "    -h, --help             print this help and exit\n"
	       "    -V, --version          print versions and exit\n"
	       "    -f                     stay in the foreground\n"
	       "    -d, -o debug           debug log to stderr (implies -f)\n"
	       "    -o log_level=LEVEL     error, warn, info (default), debug\n"
	       "\n"
	       "credential (exactly one; never the secret itself):\n"
	       "    -o token_file=PATH     API token in a file (mode 0600),\n"
	       "                           re-read when it changes\n"
	       "    APISECFS_TOKEN=...     API token in the environment\n"
	       "\n"
	       "connection:\n"
	       "    -o timeout=SECONDS     per-request deadline (15)\n"
	       "    -o retries=N           extra tries for safe requests (2)\n"
	       "    -o max_conns=N         concurrent requests (8)\n"
	       "    -o ca_file=PATH        trust this CA bundle for TLS\n"
	       "    -o insecure            do not verify TLS (not advised)\n"
	       "\n"
	       "caching:\n"
	       "    -o cache_ttl=SECONDS   how long data is fresh (60)\n"
	       "    -o cache_size=MIB      cap on cached responses (128)\n"
	       "\n"
	       "FUSE options: allow_other, default_permissions, ... (see "
	       "fuse(8))\n",
	       prog);
}

int opts_parse(struct fuse_args *args, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cache_ttl = 60;
	o->timeout = 15;
	o->retries = 2;
	o->cache_size = 128;
	o->pool_size = 8;
	if (fuse_opt_parse(args, o, opts_table, opt_proc) == -1)
		return -1;
	if (o->show_help || o->show_version)
		return 0;
	if (!o->url) {
		fprintf(stderr, "apisecfs: missing URL (see --help)\n");
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
	if (o->cache_size < 1) {
		fprintf(stderr, "apisecfs: cache_size must be at least 1 "
				"MiB\n");
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

void opts_free(struct opts *o)
{
	free(o->url);
	free(o->token_file);
	free(o->ca_file);
	free(o->log_level);
}
