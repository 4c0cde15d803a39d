/* export.c - apisecfs --export: the tree engine walked into a directory.
 *
 * Owns the walk: a stack of directories to write (ex.lock), worked by a
 * few threads so that requests overlap as they do under a mount's
 * parallel readers. Each directory's job lists it through tree.h in
 * TREE_VIEW_EXPORT, writes its files and links, makes its subdirectories
 * and queues them, removes what the listing no longer has, and sets the
 * directory's mtime. Meanwhile exportwarm walks ahead asking for what the
 * jobs will need, so their requests overlap the writing. A directory the
 * run made is written without looking for old entries in it. Calls tree
 * (never sync or node directly), exportdir for every change to DIR,
 * exportwarm, and pagestore for ETags kept across runs.
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

#include "apisecfs/api.h"
#include "apisecfs/clock.h"
#include "apisecfs/export.h"
#include "apisecfs/exportdir.h"
#include "apisecfs/exportwarm.h"
#include "apisecfs/log.h"
#include "apisecfs/opts.h"
#include "apisecfs/pagestore.h"
#include "apisecfs/tree.h"

/* Bytes copied or compared at a time: a file's bytes are never held
 * whole (vulns/all.jsonl of 100,000 findings is ~100 MB). */
#define EXPORT_CHUNK (128 * 1024)
/* At most this many threads walk, whatever max_conns says: the work
 * between requests is local and short. */
#define EXPORT_WORKERS_MAX 16
/* How often the progress line on a terminal is redrawn. */
#define EXPORT_PROGRESS_MS 200

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

/* ---- files and links ---------------------------------------------- */

static int read_full(int fd, char *out, size_t len, off_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, out + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copy the first len bytes of old (equal to the new ones) into tmp. */
static int copy_prefix(int old, int tmp, off_t len, char *buf)
{
	for (off_t off = 0; off < len;) {
		size_t n = len - off < EXPORT_CHUNK ? (size_t)(len - off)
						    : EXPORT_CHUNK;
		if (read_full(old, buf, n, off))
			return -EIO;
		int rc = write_full(tmp, buf, n);
		if (rc)
			return rc;
		off += (off_t)n;
	}
	return 0;
}

struct target {
	int dfd;
	const char *path, *name; /* for messages: path/name in DIR */
	bool fresh; /* nothing has that name in dfd: no old one to compare */
};

/* A chunk tree_read_ino handed out: inside a held blob, or malloc'd. */
static void chunk_free(struct blob *held, char *data)
{
	if (held)
		blob_unref(held);
	else
		free(data);
}

/* Write file ino of size bytes as t->name, unless it holds them already.
 * The engine's bytes are compared with the old file chunk by chunk; at
 * the first difference a new file starts with the equal prefix. bufs has
 * room for one chunk. */
static int export_file(const struct target *t, fuse_ino_t ino, off_t size,
		       time_t mtime, char *bufs)
{
	char *ob = bufs;
	char tmpname[32];
	int tmp = -1, rc = 0;
	off_t off = 0;
	struct stat ost;
	int old = t->fresh ? -1
			   : openat(t->dfd, t->name,
				    O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					    O_CLOEXEC);
	if (old >= 0 && (fstat(old, &ost) || !S_ISREG(ost.st_mode) ||
			 ost.st_size != size)) {
		close(old);
		old = -1;
	}
	for (;;) {
		struct blob *held;
		char *eb;
		int n = tree_read_ino(ino, EXPORT_CHUNK, off, &held, &eb);
		if (n <= 0) {
			chunk_free(held, eb);
			if (n < 0) {
				rc = tree_fail(t->path, t->name, n);
				goto out;
			}
			break;
		}
		if (old >= 0 && !read_full(old, ob, (size_t)n, off) &&
		    !memcmp(eb, ob, (size_t)n)) {
			chunk_free(held, eb);
			off += n;
			continue;
		}
		if (tmp < 0 &&
		    ((rc = exportdir_tmp_file(&ex.xd, t->dfd, t->fresh,
					      tmpname, sizeof(tmpname),
					      &tmp)) ||
		     (old >= 0 && (rc = copy_prefix(old, tmp, off, ob))))) {
			chunk_free(held, eb);
			rc = local_fail(t->path, t->name, rc);
			goto out;
		}
		if (old >= 0) {
			close(old);
			old = -1;
		}
		rc = write_full(tmp, eb, (size_t)n);
		chunk_free(held, eb);
		if (rc) {
			rc = local_fail(t->path, t->name, rc);
			goto out;
		}
		off += n;
	}
	if (old >= 0 && off == ost.st_size) {
		/* The same bytes: keep the file, inode and all. */
		if (mtime < ex.started && ost.st_mtime != mtime &&
		    (rc = exportdir_set_mtime(old, NULL, mtime)))
			rc = local_fail(t->path, t->name, rc);
		goto out;
	}
	if (tmp < 0 &&
	    ((rc = exportdir_tmp_file(&ex.xd, t->dfd, t->fresh, tmpname,
				      sizeof(tmpname), &tmp)) ||
	     (old >= 0 && (rc = copy_prefix(old, tmp, off, ob))))) {
		rc = local_fail(t->path, t->name, rc);
		goto out;
	}
	if ((rc = exportdir_set_mtime(tmp, NULL, mtime)))
		exportdir_discard_file(&ex.xd, tmpname, &tmp);
	else
		rc = exportdir_commit_file(&ex.xd, tmpname, &tmp, t->dfd,
					   t->name);
	if (rc)
		rc = local_fail(t->path, t->name, rc);
	else
		count(0, 1, 0);
	return rc;
out:
	if (tmp >= 0)
		exportdir_discard_file(&ex.xd, tmpname, &tmp);
	if (old >= 0)
		close(old);
	return rc;
}

/* Write link ino as t->name, unless it points there already. */
static int export_link(const struct target *t, fuse_ino_t ino, time_t mtime)
{
	struct blob *target = NULL;
	char cur[PATH_MAX], tmpname[32];
	int rc = tree_readlink(TREE_VIEW_EXPORT, ino, &target);
	if (rc)
		return tree_fail(t->path, t->name, rc);
	if (t->fresh) {
		/* Nothing to compare with or replace: made in place. */
		rc = exportdir_new_link(t->dfd, t->name, target->data, mtime);
		if (rc != -EEXIST) {
			blob_unref(target);
			if (rc)
				return local_fail(t->path, t->name, rc);
			count(0, 1, 0);
			return 0;
		}
	}
	ssize_t n = readlinkat(t->dfd, t->name, cur, sizeof(cur));
	if (n >= 0 && (size_t)n == target->len &&
	    !memcmp(cur, target->data, target->len)) {
		struct stat st;
		if (mtime < ex.started &&
		    !fstatat(t->dfd, t->name, &st, AT_SYMLINK_NOFOLLOW) &&
		    st.st_mtime != mtime &&
		    (rc = exportdir_set_mtime(t->dfd, t->name, mtime)))
			rc = local_fail(t->path, t->name, rc);
		blob_unref(target);
		return rc;
	}
	rc = exportdir_tmp_link(&ex.xd, target->data, mtime, tmpname,
				sizeof(tmpname));
	if (!rc)
		rc = exportdir_commit(&ex.xd, tmpname, t->dfd, t->name);
	blob_unref(target);
	if (rc)
		return local_fail(t->path, t->name, rc);
	count(0, 1, 0);
	return 0;
}

/* ---- directories -------------------------------------------------- */

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
	pthread_mutex_lock(&ex.lock);
	j->next = ex.jobs;
	ex.jobs = j;
	pthread_cond_signal(&ex.cond);
	pthread_mutex_unlock(&ex.lock);
	return 0;
}

/* One entry of directory job j (open as dfd). *keep: it belongs in DIR.
 * Returns 0 or -1 (failure reported). */
static int export_entry(const struct job *j, int dfd, const char *name,
			char *bufs, bool *keep)
{
	struct fuse_entry_param e;
	struct target t = { dfd, j->path, name, j->fresh };
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
	if (S_ISLNK(m))
		rc = export_link(&t, e.ino, e.attr.st_mtime);
	else if (S_ISREG(m))
		rc = export_file(&t, e.ino, e.attr.st_size, e.attr.st_mtime,
				 bufs);
	else
		*keep = false;
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
	pthread_mutex_lock(&ex.lock);
	p->next = ex.jobs;
	ex.jobs = p;
	pthread_cond_signal(&ex.cond);
	pthread_mutex_unlock(&ex.lock);
	return 0;
}

/* Start directory job j (handed over): list it, then write it whole, or
 * queue it in parts when it is big and other workers can take some. */
static void export_dir(struct job *j, unsigned workers, char *bufs)
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
	if (workers > 1 && n > from + 2 * EXPORT_PART) {
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

struct worker_arg {
	unsigned workers;
};

static void *worker(void *arg)
{
	const struct worker_arg *wa = arg;
	char *bufs = malloc(EXPORT_CHUNK);
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
			export_dir(j, wa->workers, bufs); /* failures set
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

int export_run(unsigned workers)
{
	pthread_t th[EXPORT_WORKERS_MAX];
	unsigned n = 0;
	if (workers > EXPORT_WORKERS_MAX)
		workers = EXPORT_WORKERS_MAX;
	if (push_job(FUSE_ROOT_ID, 0, false, "", ""))
		return fail(EXIT_PLATFORM, "", NULL, ENOMEM), ex.status;
	/* Requests overlap the writers' local work (exportwarm.h). */
	unsigned ahead = exportwarm_start(workers ? workers : 1);
	struct worker_arg wa = { workers ? workers : 1 };
	for (; n < wa.workers; n++)
		if (pthread_create(&th[n], NULL, worker, &wa))
			break;
	log_debug("export: %u writers, %u reading ahead", n ? n : 1, ahead);
	if (!n) {
		wa.workers = 1;
		worker(&wa);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	exportwarm_stop();
	/* After a failure: the directories and parts never written. */
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
	if (ex.tty)
		fputs("\r\033[K", stderr);
	if (ex.status)
		return ex.status;
	/* Complete: pages no request asked for are of no more use. */
	int rc = pagestore_prune();
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
