/* main.c - apisecfs: set up, check the platform, mount, serve, tear down.
 *
 * Like sshfs, everything that can fail for a reason the user can fix (bad
 * options, a missing or readable credential file, a wrong URL, a refused
 * token, a TLS problem) fails here, in the terminal, with a one-line reason
 * and a distinct exit status, before the process daemonizes. Calls every
 * module for setup and teardown only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "apisecfs/api.h"
#include "apisecfs/auth.h"
#include "apisecfs/cache.h"
#include "apisecfs/ctlmount.h"
#include "apisecfs/events.h"
#include "apisecfs/export.h"
#include "apisecfs/fs.h"
#include "apisecfs/http.h"
#include "apisecfs/junit.h"
#include "apisecfs/log.h"
#include "apisecfs/notify.h"
#include "apisecfs/opts.h"
#include "apisecfs/prefetch.h"
#include "apisecfs/spill.h"
#include "apisecfs/pagestore.h"
#include "apisecfs/restab.h"
#include "apisecfs/rowwalk.h"
#include "apisecfs/scanhist.h"
#include "apisecfs/tree.h"
#include "apisecfs/waitq.h"

/* SIGHUP drops every cache, as rclone does. The handler only writes a
 * byte to a pipe (async-signal-safe); a thread does the work. */
static int hup_pipe[2] = { -1, -1 };
static pthread_t hup_thread;

static void on_hup(int sig)
{
	(void)sig;
	int saved = errno;
	ssize_t w = write(hup_pipe[1], "h", 1);
	(void)w;
	errno = saved;
}

static void *hup_run(void *arg)
{
	char c;
	(void)arg;
	while (read(hup_pipe[0], &c, 1) == 1 && c == 'h') {
		log_info("SIGHUP: refreshing");
		tree_refresh_all();
	}
	return NULL;
}

static int hup_start(void)
{
	if (pipe2(hup_pipe, O_CLOEXEC))
		return -1;
	if (pthread_create(&hup_thread, NULL, hup_run, NULL))
		return -1;
	struct sigaction sa = { .sa_handler = on_hup };
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	return sigaction(SIGHUP, &sa, NULL);
}

static void hup_stop(void)
{
	if (hup_pipe[1] < 0)
		return;
	signal(SIGHUP, SIG_IGN);
	ssize_t w = write(hup_pipe[1], "q", 1);
	(void)w;
	pthread_join(hup_thread, NULL);
	close(hup_pipe[0]);
	close(hup_pipe[1]);
	hup_pipe[0] = hup_pipe[1] = -1;
}

/* FUSE worker threads of the data mount: requests there block only on
 * the platform (a cold listing, a render), never on a scan. */
#define APISECFS_MAX_THREADS 64

/* The data mount's allow_other or allow_root, for the control mount to
 * match; NULL when neither was given. */
static const char *allow_option(const struct fuse_args *args)
{
	const char *found = NULL;
	for (int i = 1; i < args->argc; i++) {
		const char *a = args->argv[i];
		if (strncmp(a, "-o", 2) == 0)
			a += 2;
		if (!a[0] && i + 1 < args->argc)
			a = args->argv[++i];
		if (strstr(a, "allow_other"))
			found = "allow_other";
		else if (strstr(a, "allow_root") && !found)
			found = "allow_root";
	}
	return found;
}

static void print_version(void)
{
	printf("apisecfs %s\nlibfuse %s\n%s\n", APISECFS_VERSION,
	       fuse_pkgversion(), http_version_string());
}

/* Explain a failed GET /v1/me in one line; returns the exit status. */
static int preflight_failure(const char *url, enum api_err err,
			     const struct api_status *st)
{
	const char *msg = st->message[0] ? st->message : errmap_str(err);
	switch (err) {
	case API_E_UNAUTH:
		fprintf(stderr,
			"apisecfs: the platform refused the credential (%s): "
			"%s\n",
			st->code[0] ? st->code : "unauthenticated", msg);
		return EXIT_CREDENTIAL;
	case API_E_FORBIDDEN:
		if (strcmp(st->code, "sso_required") == 0)
			fprintf(stderr,
				"apisecfs: this account must sign in through "
				"SSO; use an API token or OAuth client "
				"credentials instead\n");
		else
			fprintf(stderr,
				"apisecfs: the platform refused access (%s): "
				"%s\n",
				st->code[0] ? st->code : "forbidden", msg);
		return EXIT_CREDENTIAL;
	case API_E_TLS:
		fprintf(stderr,
			"apisecfs: TLS verification of %s failed: %s (trust "
			"its CA with -o ca_file=PATH)\n",
			url, st->detail);
		return EXIT_PLATFORM;
	case API_E_TRANSPORT:
	case API_E_TIMEOUT:
		fprintf(stderr, "apisecfs: cannot reach %s: %s\n", url,
			st->detail[0] ? st->detail : errmap_str(err));
		return EXIT_PLATFORM;
	case API_E_BAD_RESPONSE:
	case API_E_NOT_FOUND:
		fprintf(stderr,
			"apisecfs: %s does not look like the platform's API "
			"(GET /v1/me: %s)\n",
			url, errmap_str(err));
		return EXIT_PLATFORM;
	default:
		fprintf(stderr,
			"apisecfs: GET %s/v1/me failed: %s (HTTP %ld)\n", url,
			msg, st->http);
		return EXIT_PLATFORM;
	}
}

static int preflight(const char *url)
{
	cJSON *me = NULL;
	struct api_status st = { 0 };
	enum api_err result = api_me(&me, &st);
	if (result)
		return preflight_failure(url, result, &st);
	auth_set_identity(me);
	cJSON_Delete(me);
	return 0;
}

/* fetch: how the API cache gets what it lacks (api_fetch, or for an
 * export pagestore_fetch in front of it). */
static int setup_stack(const struct opts *o, cache_fetch_fn fetch, char *err,
		       size_t errsz)
{
	struct http_opts ho = {
		.timeout_ms = (long)o->timeout * 1000,
		.connect_timeout_ms =
			(long)(o->timeout < 10 ? o->timeout : 10) * 1000,
		.ca_file = o->ca_file,
		.insecure = o->insecure,
		.retries = (int)o->retries,
		.pool_size = (int)o->pool_size,
		.ratelimit_wait_ms = (long)o->ratelimit_wait * 1000,
	};
	struct auth_opts ao = {
		.base_url = o->url,
		.token_file = o->token_file,
		.token_cmd = o->token_cmd,
		.client_id = o->client_id,
		.client_secret_file = o->client_secret_file,
		.token_url = o->token_url,
		.username = o->username,
		.password_file = o->password_file,
		.credentials = o->credentials,
	};
	/* cache_size is shared, so the mount's memory follows the one
	 * number: half for API responses, three eighths for rendered files,
	 * an eighth for parsed pages that several walkers share (taken from
	 * the files' share: a dropped file is rendered again without a
	 * request, a dropped page costs one). */
	size_t cache_bytes = (size_t)o->cache_size << 20;
	struct api_opts apo = { .base_url = o->url,
				.ttl_ms = (long long)o->cache_ttl * 1000,
				.parsed_max = cache_bytes / 8 };
	struct cache_opts co = {
		.ttl_ms = (long long)o->cache_ttl * 1000,
		.max_bytes = cache_bytes / 2,
		.fetch = fetch,
	};
	struct events_opts eo = {
		.poll_s = o->poll_s,
		.queue_max = o->events_queue,
	};
	struct tree_opts to = {
		.ttl_s = o->cache_ttl,
		.content_max = cache_bytes / 2 - cache_bytes / 8,
		.uid = o->set_uid ? (uid_t)o->uid : getuid(),
		.gid = o->set_gid ? (gid_t)o->gid : getgid(),
		.umask = o->set_umask ? (mode_t)o->umask : 0,
		.root_kind = &restab_root_kind,
	};

	/* A listing keeps the files it rendered for their sizes while they
	 * fit a quarter of the content cap: the first reads then render
	 * nothing again, and the peak stays within the cap's bound. */
	rowwalk_keep_rendered(to.content_max / 4);
	events_init(&eo);
	/* Checked by opts_parse already: it cannot fail here. */
	if (o->junit_fail && junit_set_fail(o->junit_fail)) {
		snprintf(err, errsz, "junit_fail: not a severity");
		return EXIT_USAGE;
	}
	int rc = spill_init((size_t)o->disk_cache << 20);
	if (rc) {
		snprintf(err, errsz,
			 "disk_cache: cannot make a file in %s: %s",
			 getenv("TMPDIR") && *getenv("TMPDIR") ? "$TMPDIR"
							       : "/var/tmp",
			 strerror(-rc));
		return EXIT_USAGE;
	}
	if (http_init(&ho) || api_init(&apo) || cache_init(&co) ||
	    tree_init(&to)) {
		snprintf(err, errsz, "out of memory");
		return EXIT_MOUNT;
	}
	switch (auth_init(&ao, err, errsz)) {
	case 0: return 0;
	case AUTH_FAIL_PLATFORM: return EXIT_PLATFORM;
	default: return EXIT_CREDENTIAL;
	}
}

static void teardown_stack(void)
{
	tree_cleanup();
	rowwalk_cleanup();
	scanhist_cleanup();
	prefetch_stop();
	cache_cleanup();
	spill_cleanup();
	api_cleanup();
	auth_cleanup();
	http_cleanup();
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct fuse_session *se = NULL;
	struct ctlmount *cm = NULL;
	struct fuse_loop_config *loop = NULL;
	struct opts o;
	char err[512];
	int status = EXIT_USAGE;

	/* libcurl runs with NOSIGNAL; a closed socket must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* Keep the credential out of core dumps. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* glibc gives each busy thread an arena of its own (up to 8 per
	 * core) and keeps what is freed in each: with many FUSE and list
	 * threads that is ~75 MiB of RSS at 100,000 findings that follows the
	 * thread count, not the cache cap. Two arenas cost no measurable
	 * speed here (the work is network- and kernel-bound). A fixed mmap
	 * threshold keeps list pages (~700 KiB each) in mappings of their own
	 * that go back to the system when evicted; glibc's sliding threshold
	 * would move them into the heap after the first free, where they
	 * fragment it (-37 MiB peak RSS at 100,000 findings). */
	mallopt(M_ARENA_MAX, 2);
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);

	if ((status = opts_parse(&args, &o)))
		goto out_opts;
	status = EXIT_USAGE;
	if (o.show_help) {
		opts_usage(argv[0]);
		status = 0;
		goto out_opts;
	}
	if (o.show_version) {
		print_version();
		status = 0;
		goto out_opts;
	}
	struct stat mst;
	int serr = o.export ? 0 : stat(o.mountpoint, &mst) ? errno : 0;
	if (!o.export && (serr || !S_ISDIR(mst.st_mode))) {
		fprintf(stderr, "apisecfs: bad mountpoint %s: %s\n",
			o.mountpoint,
			serr ? strerror(serr) : "not a directory");
		status = EXIT_MOUNT;
		goto out_opts;
	}
	if (fuse_opt_add_arg(&args, "-osubtype=apisecfs") ||
	    fuse_opt_add_arg(&args, "-odefault_permissions") ||
	    fuse_parse_cmdline(&args, &cmd)) {
		fprintf(stderr, "apisecfs: cannot parse options\n");
		goto out_opts;
	}
	{
		/* Show the URL in mount(8) and df like sshfs shows host:path.
		 * fsname is added after fuse_parse_cmdline, escaped. */
		char *fsname = NULL;
		if (fuse_opt_add_opt_escaped(&fsname, o.url) == 0) {
			char *arg = NULL;
			if (asprintf(&arg, "-ofsname=%s", fsname) > 0)
				fuse_opt_add_arg(&args, arg);
			free(arg);
		}
		free(fsname);
	}

	int level = o.log_level ? log_level_parse(o.log_level) : LOG_LVL_INFO;
	log_init(o.debug || cmd.debug ? LOG_LVL_DEBUG : (enum log_level)level);
	if (o.insecure)
		log_warn("TLS verification is off (-o insecure): anyone on "
			 "the path can read the credential");

	if (http_global_init()) {
		fprintf(stderr, "apisecfs: cannot initialise libcurl\n");
		status = EXIT_MOUNT;
		goto out_opts;
	}
	/* Unknown options fail here, before any request is made. */
	se = fuse_session_new(&args, &fs_data_ops, sizeof(fs_data_ops),
			      fs_userdata(false));
	if (!se) {
		status = EXIT_USAGE;
		goto out_curl;
	}
	/* An export checks DIR before the credential, as a mount checks its
	 * mountpoint; one run is one snapshot (export.h). */
	if (o.export && (status = export_prepare(o.mountpoint, o.url)))
		goto out_session;
	if (o.export)
		o.cache_ttl = EXPORT_TTL_S;
	if ((status = setup_stack(&o, o.export ? pagestore_fetch : api_fetch,
				  err, sizeof(err)))) {
		fprintf(stderr, "apisecfs: %s\n", err);
		goto out_stack;
	}
	if ((status = preflight(o.url)))
		goto out_stack;
	if (o.export) {
		status = export_run(o.pool_size, o.only);
		goto out_stack;
	}
	if (fuse_set_signal_handlers(se)) {
		status = EXIT_MOUNT;
		goto out_stack;
	}
	if (ctlmount_create(allow_option(&args), &cm, err, sizeof(err)) ||
	    tree_set_ctl_root(ctlmount_path(cm))) {
		fprintf(stderr, "apisecfs: %s\n", cm ? "out of memory" : err);
		status = EXIT_MOUNT;
		goto out_signals;
	}
	if (fuse_session_mount(se, cmd.mountpoint)) {
		fprintf(stderr, "apisecfs: cannot mount on %s\n",
			cmd.mountpoint);
		status = EXIT_MOUNT;
		goto out_signals;
	}
	fuse_daemonize(cmd.foreground);
	if (!cmd.foreground)
		log_use_syslog();
	if (ctlmount_start(cm)) {
		log_err("cannot serve the control mount");
		status = EXIT_MOUNT;
		goto out_unmount;
	}
	if (waitq_start(tree_expire_listings)) {
		log_err("cannot start the scan poller");
		status = EXIT_MOUNT;
		goto out_unmount;
	}
	if (events_start()) {
		log_err("cannot start the events poller");
		status = EXIT_MOUNT;
		goto out_unmount;
	}
	if (notify_start(se, ctlmount_session(cm))) {
		log_err("cannot start the invalidation thread");
		status = EXIT_MOUNT;
		goto out_unmount;
	}
	if (hup_start())
		log_warn("SIGHUP will not refresh: %s", strerror(errno));
	log_info("mounted %s on %s", o.url, cmd.mountpoint);

	loop = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(loop, cmd.clone_fd);
	/* Blocking reads (scans/ID/wait) hold a thread each, so libfuse's
	 * default of 10 workers would let ten waiters freeze the mount.
	 * An explicit -o max_threads=N other than that default is kept. */
	fuse_loop_cfg_set_max_threads(
		loop, cmd.max_threads > 0 && cmd.max_threads != 10 &&
				      cmd.max_threads <= 100000
			      ? cmd.max_threads
			      : APISECFS_MAX_THREADS);
	if (cmd.max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(loop, cmd.max_idle_threads);
	int ret = fuse_session_loop_mt(se, loop);
	status = (ret < 0 && ret != -EINTR) ? EXIT_MOUNT : 0;
	fuse_loop_cfg_destroy(loop);
	hup_stop();
	log_info("unmounting %s", cmd.mountpoint);
out_unmount:
	waitq_stop(); /* parked reads answered while the mount still serves */
	events_stop();
	notify_stop();
	ctlmount_destroy(cm);
	cm = NULL;
	fuse_session_unmount(se);
out_signals:
	ctlmount_destroy(cm);
	fuse_remove_signal_handlers(se);
out_stack:
	teardown_stack();
out_session:
	export_close();
	fuse_session_destroy(se);
out_curl:
	http_global_cleanup();
out_opts:
	free(cmd.mountpoint);
	opts_free(&o);
	fuse_opt_free_args(&args);
	return status;
}
