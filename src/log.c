/* log.c - leveled logging to stderr or syslog, shared with libfuse.
 *
 * The one sink, so the one place that makes foreign text harmless: every
 * message is escaped here (esc.h: control characters, invalid UTF-8), so
 * an error message from the platform or a name cannot forge a log line or
 * drive the terminal, whoever logs it; and anything shaped like an API
 * token is cut out, as a last guard behind the call sites' rule of never
 * passing one. A leaf apart from esc. Thread-safe because each message is
 * formatted into one buffer and written with a single call.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <fuse_log.h>

#include "apisecfs/esc.h"
#include "apisecfs/log.h"

/* API tokens are "ask_" and 40 base62 characters; a run this long after
 * "ask_" is taken for one (a partialToken such as "ask_…x9Qz" is not). */
#define LOG_TOKEN_MIN_RUN 16
#define LOG_REDACTED "[redacted]"

/* Both set once before threads start (main.c: after the fork, before
 * the control mount's thread). */
static enum log_level threshold = LOG_LVL_INFO;
static bool to_syslog;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* Cut token-shaped runs out of msg, in place. */
static void redact_tokens(char *msg)
{
	char *p = msg;
	while ((p = strstr(p, "ask_"))) {
		char *run = p + 4, *end = run;
		while (isalnum((unsigned char)*end))
			end++;
		bool word_start =
			p == msg ||
			!(isalnum((unsigned char)p[-1]) || p[-1] == '_');
		if (!word_start || end - run < LOG_TOKEN_MIN_RUN) {
			p = end;
			continue;
		}
		size_t r = sizeof(LOG_REDACTED) - 1; /* shorter than the run */
		memcpy(run, LOG_REDACTED, r);
		memmove(run + r, end, strlen(end) + 1);
		p = run + r;
	}
}

static void emit(enum log_level level, const char *raw)
{
	char copy[2048], msg[2048];
	snprintf(copy, sizeof(copy), "%s", raw);
	redact_tokens(copy);
	esc_text(msg, sizeof(msg), copy, strlen(copy), 0);
	explicit_bzero(copy, sizeof(copy));
	if (to_syslog) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
					    LOG_DEBUG };
		syslog(prio[level], "%s", msg);
		return;
	}
	char line[2200];
	int n = snprintf(line, sizeof(line), "apisecfs: %s: %s\n",
			 level_names[level], msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	/* One write() per line keeps lines from threads whole. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

/* libfuse sometimes builds one message from several calls ("unknown
 * option(s): `" then "-o foo" then "'\n"): collect per thread until the
 * newline so the line stays whole. */
static void fuse_log_hook(enum fuse_log_level level, const char *fmt,
			  va_list ap)
{
	static __thread char pending[2048];
	static __thread size_t plen;
	enum log_level ours = level <= FUSE_LOG_ERR	  ? LOG_LVL_ERR
			      : level <= FUSE_LOG_WARNING ? LOG_LVL_WARN
			      : level <= FUSE_LOG_INFO	  ? LOG_LVL_INFO
							  : LOG_LVL_DEBUG;
	if (ours > threshold)
		return;
	int n = vsnprintf(pending + plen, sizeof(pending) - plen, fmt, ap);
	if (n > 0)
		plen += (size_t)n;
	if (plen >= sizeof(pending))
		plen = sizeof(pending) - 1;
	if (plen == 0 ||
	    (pending[plen - 1] != '\n' && plen < sizeof(pending) - 1))
		return;
	while (plen && pending[plen - 1] == '\n')
		pending[--plen] = '\0';
	emit(ours, pending);
	plen = 0;
}

void log_init(enum log_level level)
{
	threshold = level;
	fuse_set_log_func(fuse_log_hook);
}

void log_use_syslog(void)
{
	openlog("apisecfs", LOG_PID, LOG_DAEMON);
	to_syslog = true;
}

int log_level_parse(const char *word)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(*level_names); i++)
		if (strcmp(word, level_names[i]) == 0)
			return (int)i;
	if (strcmp(word, "warning") == 0)
		return LOG_LVL_WARN;
	return -1;
}

bool log_enabled(enum log_level level)
{
	return level <= threshold;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > threshold)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(level, msg);
}
