/* opts.h - the command line: one fuse_opt table, a config file with named
 * profiles, defaults, validation.
 *
 * Precedence: built-in defaults, then the profile's lines in the config
 * file, then the command line. libfuse's own options (allow_other, -f,
 * -d, ...) stay in args for fuse_parse_cmdline and fuse_session_new.
 */
#ifndef APISECFS_OPTS_H
#define APISECFS_OPTS_H

#include <stdbool.h>

#include <fuse_opt.h>

struct opts {
	char *url;
	char *mountpoint; /* also pushed back into args for libfuse; the
			   * DIR of --export */
	char *config, *profile;
	/* credential (auth.h) */
	char *token_file, *token_cmd, *credentials;
	char *client_id, *client_secret_file, *token_url;
	char *username, *password_file;
	/* connection and cache */
	char *ca_file;
	char *log_level;
	unsigned cache_ttl; /* seconds */
	unsigned timeout;   /* seconds, per request attempt */
	unsigned retries;
	unsigned cache_size;   /* MiB */
	unsigned disk_cache;   /* MiB of evicted list pages on disk; 0: off */
	unsigned pool_size;    /* concurrent requests */
	int set_max_conns;     /* max_conns given (else the default) */
	unsigned poll_s;       /* events: seconds between polls, 0: off */
	unsigned events_queue; /* events: lines a reader may leave unread */
	unsigned ratelimit_wait; /* seconds a 429 may hold one operation */
	/* Owner and mask shown for every node (sshfs's uid=, gid=, umask=);
	 * set_*: given on the command line, else the mounting user's. */
	unsigned uid, gid, umask;
	int set_uid, set_gid, set_umask;
	char *junit_fail; /* severity failing a JUnit testcase (junit.h) */
	int insecure;
	int show_help;
	int show_version;
	int debug;
	int export;   /* --export: write the tree into DIR (export.h) */
	char *only;   /* --export -o only=PATH[:PATH...] */
	int npos;     /* positional arguments seen */
	char *pos[2]; /* URL MOUNTPOINT or MOUNTPOINT */
};

/* max_conns of an export when none is given (a mount's is 8): its
 * requests are made ahead of the writing (export.h), not one reader's
 * at a time. */
#define OPTS_EXPORT_CONNS 16
/* Paths an export's -o only may name. */
#define OPTS_ONLY_MAX 16

/* Exit statuses (documented in apisecfs(1)). */
enum opts_exit {
	EXIT_USAGE = 1,	     /* bad options or arguments */
	EXIT_CREDENTIAL = 2, /* no credential, unreadable, refused */
	EXIT_PLATFORM = 3,   /* unreachable, TLS failure, not the platform */
	EXIT_MOUNT = 4,	     /* the mount itself failed; --export: bad DIR */
};

/* Parse argv (and the config file's profile) into o and args (what
 * libfuse gets). Returns 0, or an exit status after printing a one-line
 * reason to stderr: EXIT_CREDENTIAL for a config file that is refused
 * (safefile.h), else EXIT_USAGE. */
int opts_parse(struct fuse_args *args, struct opts *o)
	__attribute__((warn_unused_result));
void opts_free(struct opts *o);
void opts_usage(const char *prog);

#endif
