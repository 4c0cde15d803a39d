/* export.h - apisecfs --export URL DIR: the tree a mount shows, written
 * into a plain directory, for hosts where FUSE is not allowed.
 *
 * The export walks the same tree engine a mount serves (tree.h,
 * TREE_VIEW_EXPORT), so names, bytes, mtimes and view links are the
 * mount's by construction; control files are left out. Re-runs are
 * incremental: pages are revalidated with the ETags kept in
 * DIR/.apisecfs-export/ (pagestore.h), only files whose bytes changed are
 * replaced (atomic rename; the others keep inode and mtime), and what the
 * platform no longer has is removed. Nothing is written outside DIR
 * (exportdir.h). Memory is the mount's: listings and pages go through the
 * same capped caches, a file's bytes are copied in chunks.
 *
 * Order of use: export_prepare (before the API cache is set up, whose
 * fetch callback must be pagestore_fetch), the stack's setup and preflight,
 * export_run, export_close.
 */
#ifndef APISECFS_EXPORT_H
#define APISECFS_EXPORT_H

/* Listings and pages stay valid for the whole run, whatever -o cache_ttl
 * says: one run is one snapshot, and re-reading a page mid-run would cost
 * requests and could mix two versions of the data. */
#define EXPORT_TTL_S (7 * 24 * 3600)

/* Open DIR (creating it) for an export of url and the page store in it.
 * Returns 0 or an exit status (opts.h) after printing the reason. */
int export_prepare(const char *dir, const char *url)
	__attribute__((warn_unused_result));
/* Walk the tree into DIR with workers threads: all of it, or only the
 * paths in only (-o only: relative paths separated by ':'; their parent
 * directories are made, nothing outside them is swept, and the kept
 * pages of the other parts stay). Returns 0 or an exit status (opts.h)
 * after printing the reason: EXIT_CREDENTIAL when the platform refused
 * the credential, EXIT_PLATFORM when it failed, EXIT_MOUNT when DIR
 * could not be written, EXIT_USAGE when a path of only is not in the
 * tree. */
int export_run(unsigned workers, const char *only)
	__attribute__((warn_unused_result));
/* Close DIR and the store (also after a failed or skipped run). */
void export_close(void);

#endif
