/* export.c - apisecfs --export: the tree engine walked into a directory.
 *
 * Owns the walk: a stack of directories to write (ex.lock), worked by a
 * few threads so that requests overlap as they do under a mount's
 * parallel readers. Each directory's job lists it through tree.h in
 * TREE_VIEW_EXPORT, writes its files and links (exportfile.h), makes its
 * subdirectories and queues them, removes what the listing no longer
 * has, and sets the directory's mtime. A big directory (vulns/ holds
 * every finding) is queued in parts that all writers take; its sweep and
 * mtime wait for the last part. Meanwhile exportwarm walks ahead asking
 * for what the jobs will need, so their requests overlap the writing. A
 * directory the run made is written without looking for old entries in
 * it. -o only starts the walk at the paths it names instead of the root.
 * Calls tree (never sync or node directly), exportfile and exportdir for
 * every change to DIR, exportwarm, and pagestore for ETags kept across
 * runs.
 *
 * Lookups are balanced: every tree_lookup is forgotten once its entry is
 * written (a directory's when its job ends), so the node table keeps no
 * more than a mount whose kernel forgot everything.
 *
 * mtimes: a file's is the engine's, i.e. from the API's updatedAt or
 * createdAt. A node with no such field shows the time it was made in this
 * process; that time is not stamped onto a file whose bytes did not
 * change, so an unchanged README keeps its mtime from run to run.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <limits.h>

#include "apisecfs/api.h"
#include "apisecfs/clock.h"
#include "apisecfs/export.h"
#include "apisecfs/exportdir.h"
#include "apisecfs/exportfile.h"
#include "apisecfs/exportwarm.h"
#include "apisecfs/log.h"
#include "apisecfs/opts.h"
#include "apisecfs/pagestore.h"
#include "apisecfs/tree.h"

/* Each writer's buffer for comparing a file's bytes (exportfile.h). */
#define EXPORT_CHUNK EXPORTFILE_CHUNK
/* At most this many threads walk, whatever max_conns says: the work
 * between requests is local and short. */
#define EXPORT_WORKERS_MAX 16
/* How often the progress line on a terminal is redrawn. */
#define EXPORT_PROGRESS_MS 200
/* Paths -o only may name (opts.c checks it). */
#define EXPORT_ONLY_MAX OPTS_ONLY_MAX

/* A directory to write; holds a lookup of ino (but the root's). */
struct dirwork;
struct job {
	fuse_ino_t ino;
	time_t mtime;
	bool fresh; /* made by this run: empty at the start of its job */
	struct dirwork *work; /* a part: entries [from, to) of work's */
	size_t from, to;
	struct job *next;
	char path[]; /* relative to DIR; "" is DIR itself */
};

static struct {
	struct exportdir xd;
	bool prepared;
	const char *dir;
	time_t started;
	bool tty;
	pthread_mutex_t lock; /* a leaf: never held across a read or write */
	pthread_cond_t cond;
	struct job *jobs; /* protected by lock; a stack: depth first */
	unsigned busy;	  /* protected by lock: jobs being worked */
	int status;	  /* protected by lock: first failure's exit status */
	unsigned workers; /* set before the writers start */
	unsigned long files, written, removed; /* protected by lock */
	long long progress_ms;		       /* protected by lock */
} ex = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .cond = PTHREAD_COND_INITIALIZER,
	 .xd = { .root = -1, .state = -1, .tmp = -1 } };

/* ---- failures and progress ---------------------------------------- */

static bool stopping(void)
{
	pthread_mutex_lock(&ex.lock);
	bool s = ex.status != 0;
	pthread_mutex_unlock(&ex.lock);
	return s;
}

/* Record the first failure and say where; returns -1. */
static int fail(int status, const char *path, const char *name, int err)
{
	pthread_mutex_lock(&ex.lock);
	bool first = !ex.status;
	if (first)
		ex.status = status;
	pthread_mutex_unlock(&ex.lock);
	if (first) {
		if (ex.tty)
			fputs("\r\033[K", stderr);
		fprintf(stderr, "apisecfs: export: %s%s%s: %s\n",
			path[0] ? path : ".", name ? "/" : "",
			name ? name : "", strerror(err));
	}
	return -1;
}

/* DIR could not be written. */
static int local_fail(const char *path, const char *name, int rc)
{
	return fail(EXIT_MOUNT, path, name, rc < 0 ? -rc : rc);
}

/* The tree (the platform behind it) failed. */
static int tree_fail(const char *path, const char *name, int rc)
{
	struct pagestore_stats ps;
	pagestore_get_stats(&ps);
	return fail(rc == -EACCES && ps.unauth ? EXIT_CREDENTIAL
					       : EXIT_PLATFORM,
		    path, name, -rc);
}

static void count(unsigned long files, unsigned long written,
		  unsigned long removed)
{
	pthread_mutex_lock(&ex.lock);
	ex.files += files;
	ex.written += written;
	ex.removed += removed;
	long long now = clock_ms();
	bool draw = ex.tty && now - ex.progress_ms >= EXPORT_PROGRESS_MS;
	if (draw) {
		ex.progress_ms = now;
		fprintf(stderr,
			"\rapisecfs: exporting: %lu files, %lu written, "
			"%lu removed",
			ex.files, ex.written, ex.removed);
	}
	pthread_mutex_unlock(&ex.lock);
}

/* ---- directories -------------------------------------------------- */

/* On the stack of jobs, for any worker. */
static void queue_job(struct job *j)
{
	pthread_mutex_lock(&ex.lock);
	j->next = ex.jobs;
	ex.jobs = j;
	pthread_cond_signal(&ex.cond);
	pthread_mutex_unlock(&ex.lock);
}

/* Queue directory ino (its lookup handed over) at path/name. */
static int push_job(fuse_ino_t ino, time_t mtime, bool fresh, const char *path,
		    const char *name)
{
	size_t plen = strlen(path), nlen = strlen(name);
	struct job *j = malloc(sizeof(*j) + plen + nlen + 2);
	if (!j)
		return -ENOMEM;
	j->ino = ino;
	j->mtime = mtime;
	j->fresh = fresh;
	j->work = NULL;
	if (plen) {
		memcpy(j->path, path, plen);
		j->path[plen++] = '/';
	}
	memcpy(j->path + plen, name, nlen + 1);
	queue_job(j);
	return 0;
}

/* One entry of directory job j (open as dfd). *keep: it belongs in DIR.
 * Returns 0 or -1 (failure reported). */
static int export_entry(const struct job *j, int dfd, const char *name,
			char *bufs, bool *keep)
{
	struct fuse_entry_param e;
	struct exportfile_target t = { &ex.xd,	ex.started, dfd,
				       j->path, name,	    j->fresh };
	int rc = tree_lookup(TREE_VIEW_EXPORT, j->ino, name, &e);
	*keep = false;
	if (rc == -ENOENT)
		return 0; /* gone since the listing */
	if (rc)
		return tree_fail(j->path, name, rc);
	mode_t m = e.attr.st_mode;
	if (!(m & 0444)) {
		/* The credential may not read it: absent, as in a mount
		 * where it would answer EACCES. */
		tree_forget(e.ino, 1);
		return 0;
	}
	*keep = true;
	if (S_ISDIR(m)) {
		int sub;
		bool made;
		rc = exportdir_subdir(dfd, name, &sub, &made);
		if (!rc) {
			close(sub);
			rc = push_job(e.ino, e.attr.st_mtime, made, j->path,
				      name);
		}
		if (rc) {
			tree_forget(e.ino, 1);
			return local_fail(j->path, name, rc);
		}
		return 0; /* the job forgets the lookup */
	}
	enum exportfile_fault fault = EXPORTFILE_LOCAL;
	if (S_ISLNK(m))
		rc = exportfile_link(&t, e.ino, e.attr.st_mtime, &fault);
	else if (S_ISREG(m))
		rc = exportfile_write(&t, e.ino, e.attr.st_size,
				      e.attr.st_mtime, bufs, &fault);
	else
		*keep = false;
	if (rc > 0)
		count(0, 1, 0);
	if (rc < 0)
		rc = fault == EXPORTFILE_TREE ? tree_fail(j->path, name, rc)
					      : local_fail(j->path, name, rc);
	else
		rc = 0;
	tree_forget(e.ino, 1);
	if (!rc && *keep)
		count(1, 0, 0);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Remove what dfd holds but kept (sorted) does not: the platform no
 * longer has it, or it is no part of the tree. */
static int sweep(const struct job *j, int dfd, const char **kept, size_t nkept)
{
	int rc = 0;
	DIR *d = exportdir_fdopen(dup(dfd), &rc);
	char **gone = NULL;
	size_t ngone = 0, alloc = 0;
	struct dirent *de;
	if (!d)
		return local_fail(j->path, NULL, rc);
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") ||
		    (!j->path[0] && !strcmp(n, EXPORTDIR_STATE)) ||
		    bsearch(&n, kept, nkept, sizeof(*kept), by_name))
			continue;
		if (ngone == alloc) {
			alloc = alloc ? alloc * 2 : 16;
			char **g = realloc(gone, alloc * sizeof(*g));
			if (!g) {
				rc = -ENOMEM;
				break;
			}
			gone = g;
		}
		if (!(gone[ngone] = strdup(n))) {
			rc = -ENOMEM;
			break;
		}
		ngone++;
	}
	closedir(d);
	for (size_t i = 0; i < ngone; i++) {
		if (!rc && (rc = exportdir_remove(dfd, gone[i])))
			local_fail(j->path, gone[i], rc);
		free(gone[i]);
	}
	free(gone);
	if (rc == -ENOMEM)
		local_fail(j->path, NULL, rc);
	if (!rc)
		count(0, 0, ngone);
	return rc ? -1 : 0;
}

/* A directory being written: its listing, shared by the parts of it
 * that several workers write at once (vulns/ holds every finding). */
struct dirwork {
	struct job *job; /* the directory's; its lookup held till the end */
	struct tree_dir *d;
	int dfd;
	const char **kept; /* by listing index, NULL: not kept; each slot
			    * written by the one part that owns it */
	unsigned parts;	   /* ex.lock: parts not done yet */
	bool failed;	   /* ex.lock: a part failed */
};

/* Entries a part holds: small enough for the workers to share a big
 * directory, large enough that queueing costs nothing beside writing. */
#define EXPORT_PART 256

/* Write entries [from, to) of w's listing. */
static void export_range(struct dirwork *w, size_t from, size_t to, char *bufs)
{
	const struct job *j = w->job;
	int rc = 0;
	for (size_t i = from; !rc && i < to && !stopping(); i++) {
		const char *name = w->d->v[i].name;
		bool keep;
		if (!exportdir_name_ok(name, !j->path[0])) {
			log_warn("export: %s: name %s left out", j->path,
				 name);
			continue;
		}
		rc = export_entry(j, w->dfd, name, bufs, &keep);
		if (keep)
			w->kept[i] = name;
	}
	if (rc) {
		pthread_mutex_lock(&ex.lock);
		w->failed = true;
		pthread_mutex_unlock(&ex.lock);
	}
}

/* After the last part: remove what the listing no longer has, set the
 * directory's mtime, and let go of it all. */
static void finish_dir(struct dirwork *w)
{
	const struct job *j = w->job;
	int rc = w->failed ? -1 : 0;
	/* A directory made by this run holds only what it just wrote. */
	if (!rc && !j->fresh && !stopping()) {
		size_t nkept = 0;
		for (size_t i = 0; i < w->d->n; i++)
			if (w->kept[i])
				w->kept[nkept++] = w->kept[i];
		qsort(w->kept, nkept, sizeof(*w->kept), by_name);
		rc = sweep(j, w->dfd, w->kept, nkept);
	}
	if (!rc && j->mtime && j->mtime < ex.started &&
	    (rc = exportdir_set_mtime(w->dfd, NULL, j->mtime)))
		local_fail(j->path, NULL, rc);
	free(w->kept);
	tree_dir_free(w->d);
	close(w->dfd);
	if (w->job->ino != FUSE_ROOT_ID)
		tree_forget(w->job->ino, 1);
	free(w->job);
	free(w);
}

/* A part of a directory: queued like a directory, worked by any worker. */
static int push_part(struct dirwork *w, size_t from, size_t to)
{
	struct job *p = malloc(sizeof(*p) + 1);
	if (!p)
		return -ENOMEM;
	*p = (struct job){ .work = w, .from = from, .to = to };
	p->path[0] = '\0';
	queue_job(p);
	return 0;
}

/* Start directory job j (handed over): list it, then write it whole, or
 * queue it in parts when it is big and other workers can take some. */
static void export_dir(struct job *j, char *bufs)
{
	struct dirwork *w = calloc(1, sizeof(*w));
	int rc;
	bool unused_keep_cache;
	if (!w) {
		local_fail(j->path, NULL, -ENOMEM);
		goto drop_job;
	}
	w->job = j;
	if ((rc = exportdir_open_path(&ex.xd, j->path, &w->dfd))) {
		local_fail(j->path, NULL, rc);
		free(w);
		goto drop_job;
	}
	if ((rc = tree_opendir(TREE_VIEW_EXPORT, j->ino, &w->d,
			       &unused_keep_cache))) {
		tree_fail(j->path, NULL, rc);
		close(w->dfd);
		free(w);
		goto drop_job;
	}
	if (!(w->kept = calloc(w->d->n ? w->d->n : 1, sizeof(*w->kept)))) {
		local_fail(j->path, NULL, -ENOMEM);
		w->failed = true;
		finish_dir(w);
		return;
	}
	size_t n = w->d->n, from = 2;
	if (ex.workers > 1 && n > from + 2 * EXPORT_PART) {
		/* All parts counted first: one finished early must not end
		 * the directory. */
		unsigned total = (unsigned)((n - from + EXPORT_PART - 1) /
					    EXPORT_PART),
			 queued = 0;
		w->parts = total;
		for (size_t i = from; i < n; i += EXPORT_PART, queued++)
			if (push_part(w, i,
				      n - i > EXPORT_PART ? i + EXPORT_PART
							  : n))
				break;
		if (queued == total)
			return;
		/* Out of memory: the parts never queued are done, failed. */
		local_fail(j->path, NULL, -ENOMEM);
		pthread_mutex_lock(&ex.lock);
		w->failed = true;
		w->parts -= total - queued;
		bool last = w->parts == 0;
		pthread_mutex_unlock(&ex.lock);
		if (last)
			finish_dir(w);
		return;
	}
	export_range(w, from, n, bufs);
	finish_dir(w);
	return;
drop_job:
	if (j->ino != FUSE_ROOT_ID)
		tree_forget(j->ino, 1);
	free(j);
}

/* ---- the walk ----------------------------------------------------- */

static void *worker(void *arg)
{
	char *bufs = malloc(EXPORT_CHUNK);
	(void)arg;
	if (!bufs)
		fail(EXIT_PLATFORM, "", NULL, ENOMEM);
	pthread_mutex_lock(&ex.lock);
	for (;;) {
		while (!ex.jobs && ex.busy && !ex.status)
			pthread_cond_wait(&ex.cond, &ex.lock);
		if (!ex.jobs || ex.status)
			break;
		struct job *j = ex.jobs;
		ex.jobs = j->next;
		ex.busy++;
		pthread_mutex_unlock(&ex.lock);
		if (j->work) {
			struct dirwork *w = j->work;
			export_range(w, j->from, j->to, bufs);
			free(j);
			pthread_mutex_lock(&ex.lock);
			bool last = --w->parts == 0;
			pthread_mutex_unlock(&ex.lock);
			if (last)
				finish_dir(w);
		} else {
			export_dir(j, bufs); /* failures set
							   * ex.status */
		}
		pthread_mutex_lock(&ex.lock);
		ex.busy--;
		pthread_cond_broadcast(&ex.cond);
	}
	pthread_cond_broadcast(&ex.cond);
	pthread_mutex_unlock(&ex.lock);
	free(bufs);
	return NULL;
}

int export_prepare(const char *dir, const char *url)
{
	char err[512];
	/* Before the tree exists: nodes made from now on show this run's
	 * time, data mtimes are older. */
	ex.started = time(NULL);
	ex.tty = isatty(STDERR_FILENO);
	ex.dir = dir;
	if (exportdir_open(dir, url, &ex.xd, err, sizeof(err))) {
		fprintf(stderr, "apisecfs: %s\n", err);
		return EXIT_MOUNT;
	}
	ex.prepared = true;
	int rc = pagestore_open(ex.xd.state, api_fetch, !ex.xd.same_url);
	if (rc) {
		fprintf(stderr, "apisecfs: bad directory %s: %s/: %s\n", dir,
			EXPORTDIR_STATE, strerror(-rc));
		export_close();
		return EXIT_MOUNT;
	}
	return 0;
}

/* After a failure: the directories and parts never written. */
static void export_drain(void)
{
	while (ex.jobs) {
		struct job *j = ex.jobs;
		ex.jobs = j->next;
		if (j->work) {
			if (--j->work->parts == 0)
				finish_dir(j->work);
		} else if (j->ino != FUSE_ROOT_ID) {
			tree_forget(j->ino, 1);
		}
		free(j);
	}
}

/* ---- -o only: parts of the tree ------------------------------------ */

/* A path of -o only that cannot be written: not in the tree (a usage
 * error), not the credential's to read, or the platform failed. */
static int only_fail(const char *path, int rc)
{
	if (rc == -ENOENT)
		return fail(EXIT_USAGE, path, NULL, ENOENT);
	if (rc == -EACCES)
		return fail(EXIT_CREDENTIAL, path, NULL, EACCES);
	return tree_fail(path, NULL, rc);
}

/* The directories of -o only, each holding a lookup for the warm walk. */
struct only_dirs {
	fuse_ino_t v[EXPORT_ONLY_MAX];
	size_t n;
};

/* Look path (names separated by '/', checked by opts.c) up in the tree:
 * every name but the last a directory, the last one the credential may
 * read. Returns 0, -ENOENT, -EACCES (the credential's scopes do not
 * reach it), or the tree's failure. With parent, *parent
 * is the last name's directory, holding a lookup (but the root). */
static int export_only_lookup(const char *path, fuse_ino_t *parent)
{
	fuse_ino_t dir = FUSE_ROOT_ID, ino = FUSE_ROOT_ID;
	int rc = 0;
	for (const char *name = path;;) {
		const char *slash = strchr(name, '/');
		size_t n = slash ? (size_t)(slash - name) : strlen(name);
		char comp[NAME_MAX + 1];
		struct fuse_entry_param e;
		if (dir != FUSE_ROOT_ID)
			tree_forget(dir, 1);
		dir = ino;
		ino = FUSE_ROOT_ID;
		if (n > NAME_MAX)
			rc = -ENOENT;
		else
			snprintf(comp, sizeof(comp), "%.*s", (int)n, name);
		if (!rc && !exportdir_name_ok(comp, dir == FUSE_ROOT_ID))
			rc = -ENOENT;
		if (!rc &&
		    !(rc = tree_lookup(TREE_VIEW_EXPORT, dir, comp, &e))) {
			ino = e.ino;
			if (slash && !S_ISDIR(e.attr.st_mode))
				rc = -ENOENT;
			else if (!(e.attr.st_mode & 0444))
				rc = -EACCES;
		}
		if (rc || !slash)
			break;
		name = slash + 1;
	}
	if (ino != FUSE_ROOT_ID)
		tree_forget(ino, 1);
	if (!rc && parent)
		*parent = dir;
	else if (dir != FUSE_ROOT_ID)
		tree_forget(dir, 1);
	return rc;
}

/* Write path (export_only_lookup found it) of the tree: its parents are
 * made in DIR as needed (never swept: the rest of DIR is not this run's),
 * and the last name is written as a directory's entry is. A directory is
 * queued and recorded in *dirs for the warm walk. Returns 0 or -1 (the
 * failure reported, with EXIT_USAGE for a path the tree no longer has). */
static int export_only_path(const char *path, char *bufs,
			    struct only_dirs *dirs)
{
	const char *last = strrchr(path, '/');
	size_t plen = last ? (size_t)(last - path) : 0;
	struct job *pj = malloc(sizeof(*pj) + plen + 1);
	int dfd = -1, rc;
	bool keep;
	if (!pj)
		return fail(EXIT_PLATFORM, path, NULL, ENOMEM);
	*pj = (struct job){ .ino = FUSE_ROOT_ID };
	memcpy(pj->path, path, plen);
	pj->path[plen] = '\0';
	last = last ? last + 1 : path;
	rc = export_only_lookup(path, &pj->ino);
	if (rc) {
		free(pj);
		return only_fail(path, rc);
	}
	if ((rc = exportdir_open_path(&ex.xd, "", &dfd)))
		rc = local_fail(path, NULL, rc);
	/* The parents, made in DIR. */
	for (const char *name = path; !rc && name != last;) {
		const char *slash = strchr(name, '/');
		char comp[NAME_MAX + 1];
		int sub;
		bool made;
		snprintf(comp, sizeof(comp), "%.*s", (int)(slash - name),
			 name);
		if ((rc = exportdir_subdir(dfd, comp, &sub, &made))) {
			rc = local_fail(path, NULL, rc);
			break;
		}
		close(dfd);
		dfd = sub;
		name = slash + 1;
	}
	/* A directory's job is queued with the lookup; one more lookup goes
	 * to the warm walk. */
	struct fuse_entry_param e;
	if (!rc && !(rc = export_entry(pj, dfd, last, bufs, &keep))) {
		if (!keep)
			rc = fail(EXIT_USAGE, path, NULL, ENOENT);
		else if (dirs->n < EXPORT_ONLY_MAX &&
			 !tree_lookup(TREE_VIEW_EXPORT, pj->ino, last, &e)) {
			if (S_ISDIR(e.attr.st_mode))
				dirs->v[dirs->n++] = e.ino;
			else
				tree_forget(e.ino, 1);
		}
	}
	if (pj->ino != FUSE_ROOT_ID)
		tree_forget(pj->ino, 1);
	free(pj);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* Queue the parts of the tree -o only names (opts.c checked their form
 * and number). */
static int export_only(const char *only, struct only_dirs *dirs)
{
	char *bufs = malloc(EXPORT_CHUNK), *list = strdup(only), *save = NULL;
	char *paths[EXPORT_ONLY_MAX];
	size_t n = 0;
	int rc = 0;
	if (!bufs || !list)
		rc = fail(EXIT_PLATFORM, "", NULL, ENOMEM);
	for (char *p = rc ? NULL : strtok_r(list, ":", &save);
	     p && n < EXPORT_ONLY_MAX; p = strtok_r(NULL, ":", &save))
		paths[n++] = p;
	/* All looked up first: a path not in the tree changes nothing. */
	for (size_t i = 0; i < n && !rc; i++) {
		if ((rc = export_only_lookup(paths[i], NULL)))
			rc = only_fail(paths[i], rc);
	}
	for (size_t i = 0; i < n && !rc; i++)
		rc = export_only_path(paths[i], bufs, dirs);
	free(bufs);
	free(list);
	return rc;
}

int export_run(unsigned workers, const char *only)
{
	pthread_t th[EXPORT_WORKERS_MAX];
	unsigned n = 0;
	struct only_dirs dirs = { .n = 0 };
	if (workers > EXPORT_WORKERS_MAX)
		workers = EXPORT_WORKERS_MAX;
	if (only) {
		if (export_only(only, &dirs)) {
			while (dirs.n)
				tree_forget(dirs.v[--dirs.n], 1);
			export_drain();
			return ex.status;
		}
	} else if (push_job(FUSE_ROOT_ID, 0, false, "", "")) {
		return fail(EXIT_PLATFORM, "", NULL, ENOMEM), ex.status;
	}
	/* Requests overlap the writers' local work (exportwarm.h). */
	unsigned ahead =
		exportwarm_start(workers ? workers : 1, dirs.v, dirs.n);
	ex.workers = workers ? workers : 1;
	for (; n < ex.workers; n++)
		if (pthread_create(&th[n], NULL, worker, NULL))
			break;
	log_debug("export: %u writers, %u reading ahead", n ? n : 1, ahead);
	if (!n) {
		ex.workers = 1; /* no thread runs: this one writes alone */
		worker(NULL);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	exportwarm_stop();
	export_drain();
	if (ex.tty)
		fputs("\r\033[K", stderr);
	if (ex.status)
		return ex.status;
	/* Complete: pages no request asked for are of no more use (unless
	 * this run wrote only parts of the tree: the others' pages are). */
	int rc = only ? 0 : pagestore_prune();
	if (rc)
		log_warn("export: cannot remove old pages: %s", strerror(-rc));
	struct pagestore_stats ps;
	pagestore_get_stats(&ps);
	unsigned long parses, shared;
	size_t parsed_bytes;
	api_parse_stats(&parses, &shared, &parsed_bytes);
	log_debug("export: %lu requests, %lu answered 304 from kept pages, "
		  "%lu pages read again from DIR, %lu pages kept; %lu pages "
		  "parsed, %lu walks shared a parse (%zu bytes kept)",
		  ps.requests, ps.not_modified, ps.local, ps.saved, parses,
		  shared, parsed_bytes);
	if (ex.tty)
		fprintf(stderr,
			"apisecfs: exported %lu files to %s: %lu written, "
			"%lu removed; %lu requests, %lu not modified\n",
			ex.files, ex.dir, ex.written, ex.removed, ps.requests,
			ps.not_modified);
	return 0;
}

void export_close(void)
{
	if (!ex.prepared)
		return;
	pagestore_close();
	exportdir_close(&ex.xd);
	ex.prepared = false;
}
