/* opts.h - the command line: one fuse_opt table, defaults, validation.
 *
 * Parsing leaves libfuse's own options (allow_other, -f, -d, ...) in args
 * for fuse_parse_cmdline and fuse_session_new; ours are consumed here.
 */
#ifndef APISECFS_OPTS_H
#define APISECFS_OPTS_H

#include <stdbool.h>

#include <fuse_opt.h>

struct opts {
	char *url;
	char *token_file;
	char *ca_file;
	char *log_level;
	unsigned cache_ttl;  /* seconds */
	unsigned timeout;    /* seconds, per request attempt */
	unsigned retries;
	unsigned cache_size; /* MiB */
	unsigned pool_size;  /* concurrent requests */
	int insecure;
	int show_help;
	int show_version;
	int debug;
};

/* Exit statuses (documented in apisecfs(1)). */
enum opts_exit {
	EXIT_USAGE = 1,	     /* bad options or arguments */
	EXIT_CREDENTIAL = 2, /* no credential, unreadable, refused */
	EXIT_PLATFORM = 3,   /* unreachable, TLS failure, not the platform */
	EXIT_MOUNT = 4,	     /* the mount itself failed */
};

/* Parse argv into o (defaults first) and args (what libfuse gets).
 * Returns 0, or -1 after printing a one-line reason to stderr. */
int opts_parse(struct fuse_args *args, struct opts *o)
	__attribute__((warn_unused_result));
void opts_free(struct opts *o);
void opts_usage(const char *prog);

#endif
