/* log.h - leveled logging to stderr (foreground) or syslog (daemon).
 *
 * Every module logs through these calls; libfuse's own messages are routed
 * here too (log_init installs a fuse_set_log_func hook), so there is one sink.
 * Callers must never pass secrets: log.c cannot know what a secret is, so the
 * rule is enforced at the call sites (http.c never logs header values, and
 * nothing written to a control file is logged); log.c only cuts out what
 * looks like an API token, as a last guard. Messages may carry foreign text
 * (platform error messages, names): the sink escapes control characters and
 * invalid UTF-8 (esc.h), so no caller needs to.
 */
#ifndef APISECFS_LOG_H
#define APISECFS_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Set the threshold and sink; stderr until log_use_syslog() is called. */
void log_init(enum log_level level);
/* Switch the sink to syslog(LOG_DAEMON, ident "apisecfs"); after daemonizing. */
void log_use_syslog(void);
/* Parse "error|warn|info|debug"; returns -1 on an unknown word. */
int log_level_parse(const char *word);
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                       \
	do {                                                 \
		if (log_enabled(LOG_LVL_DEBUG))              \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
