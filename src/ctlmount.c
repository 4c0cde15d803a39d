/* ctlmount.c - the control mount: its private directory, its session,
 * the thread that serves it, and its removal.
 *
 * Owns one struct ctlmount (made once in main, before the fork). Calls
 * libfuse and fs.c's control table; a stale control mount of a daemon
 * that was killed (ENOTCONN) is swept at the next start.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apisecfs/ctlmount.h"
#include "apisecfs/fs.h"
#include "apisecfs/log.h"

/* Workers for the control mount: its requests never block a thread for
 * long (a wait parks its request, waitq.h), so a few suffice. */
#define CTLMOUNT_THREADS 16

struct ctlmount {
	struct fuse_session *se;
	char path[256];
	bool mounted, running;
	pthread_t thread;
};

extern char **environ;

/* A directory we made or may use: ours, not a link, nobody else can
 * write into it (else someone could swap our mountpoint). */
static int safe_dir(const char *path, mode_t mode)
{
	struct stat st;
	if (mkdir(path, mode) && errno != EEXIST)
		return -1;
	if (lstat(path, &st))
		return -1;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

static int base_dir(const char *allow, char *out, size_t outsz)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (geteuid() == 0 &&
	    snprintf(out, outsz, "/run/apisecfs") < (int)outsz &&
	    safe_dir(out, 0755) == 0)
		return 0;
	/* XDG_RUNTIME_DIR is the user's alone (0700): right unless other
	 * users are to reach the control files too. */
	if (!allow && xdg && xdg[0] == '/' &&
	    snprintf(out, outsz, "%s/apisecfs", xdg) < (int)outsz &&
	    safe_dir(out, 0700) == 0)
		return 0;
	if (snprintf(out, outsz, "/tmp/apisecfs-%lu",
		     (unsigned long)geteuid()) < (int)outsz &&
	    safe_dir(out, 0711) == 0)
		return 0;
	return -1;
}

static void lazy_unmount(const char *path)
{
	if (geteuid() == 0) {
		umount2(path, MNT_DETACH);
		return;
	}
	char *argv[] = { "fusermount3", "-u",	      "-z", "-q",
			 "--",		(char *)path, NULL };
	pid_t pid;
	int status;
	if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ) == 0)
		waitpid(pid, &status, 0);
}

/* Control mounts of daemons that died without unmounting answer
 * ENOTCONN: detach them and remove their directories. Live ones (and
 * ones being made) are left alone. */
static void sweep(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[512];
		struct stat st;
		if (strncmp(de->d_name, "ctl.", 4) != 0 ||
		    snprintf(p, sizeof(p), "%s/%s", base, de->d_name) >=
			    (int)sizeof(p))
			continue;
		if (stat(p, &st) == 0 || errno != ENOTCONN)
			continue;
		lazy_unmount(p);
		if (rmdir(p) == 0)
			log_info("removed the stale control mount %s", p);
	}
	closedir(d);
}

int ctlmount_create(const char *allow, struct ctlmount **out, char *err,
		    size_t errsz)
{
	char base[200], opts[160];
	struct ctlmount *cm = calloc(1, sizeof(*cm));
	*out = NULL;
	if (!cm) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	if (base_dir(allow, base, sizeof(base))) {
		snprintf(err, errsz,
			 "no safe directory for the control mount (%s)",
			 strerror(errno));
		goto fail;
	}
	sweep(base);
	snprintf(cm->path, sizeof(cm->path), "%s/ctl.XXXXXX", base);
	if (!mkdtemp(cm->path)) {
		snprintf(err, errsz, "cannot make %s: %s", cm->path,
			 strerror(errno));
		cm->path[0] = '\0';
		goto fail;
	}
	snprintf(opts, sizeof(opts),
		 "-ofsname=apisecfs-ctl,subtype=apisecfs-ctl,"
		 "default_permissions%s%s",
		 allow ? "," : "", allow ? allow : "");
	char *argv[] = { "apisecfs", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(2, argv);
	cm->se = fuse_session_new(&args, &fs_ctl_ops, sizeof(fs_ctl_ops),
				  fs_userdata(true));
	fuse_opt_free_args(&args); /* libfuse may have added to them */
	if (!cm->se) {
		snprintf(err, errsz, "cannot create the control session");
		goto fail;
	}
	if (fuse_session_mount(cm->se, cm->path)) {
		snprintf(err, errsz, "cannot mount the control files on %s",
			 cm->path);
		goto fail;
	}
	cm->mounted = true;
	*out = cm;
	return 0;
fail:
	ctlmount_destroy(cm);
	return -1;
}

struct fuse_session *ctlmount_session(const struct ctlmount *cm)
{
	return cm ? cm->se : NULL;
}

const char *ctlmount_path(const struct ctlmount *cm)
{
	return cm->path;
}

static void *serve(void *arg)
{
	struct ctlmount *cm = arg;
	struct fuse_loop_config *loop = fuse_loop_cfg_create();
	if (!loop)
		return NULL;
	fuse_loop_cfg_set_max_threads(loop, CTLMOUNT_THREADS);
	int rc = fuse_session_loop_mt(cm->se, loop);
	if (rc < 0 && rc != -EINTR && rc != -ENODEV)
		log_warn("the control mount stopped: %s", strerror(-rc));
	fuse_loop_cfg_destroy(loop);
	return NULL;
}

int ctlmount_start(struct ctlmount *cm)
{
	if (pthread_create(&cm->thread, NULL, serve, cm))
		return -1;
	cm->running = true;
	return 0;
}

void ctlmount_destroy(struct ctlmount *cm)
{
	if (!cm)
		return;
	if (cm->se)
		fuse_session_exit(cm->se);
	/* Detaching the mount ends the loop's reads of /dev/fuse with
	 * ENODEV once nobody holds a file of it open. Someone may (a shell's
	 * exec 3<>scans/new): then the process exits without waiting for
	 * them, and the session is left to the exit. The device is closed
	 * only after the workers are gone: fuse_session_unmount closes it
	 * first and unmounts next, and a worker still reading it could read
	 * whatever took its number (TSan saw the close race their reads).
	 * Once detached and ended, fuse_session_unmount only closes. */
	if (cm->mounted)
		lazy_unmount(cm->path);
	if (cm->path[0] && rmdir(cm->path) && errno != ENOENT)
		log_warn("cannot remove %s: %s", cm->path, strerror(errno));
	if (cm->running) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 2;
		if (pthread_timedjoin_np(cm->thread, NULL, &ts)) {
			log_info("control files still open; not waiting");
			return;
		}
	}
	if (cm->mounted)
		fuse_session_unmount(cm->se);
	if (cm->se)
		fuse_session_destroy(cm->se);
	free(cm);
}
