/*
 * log: see log.h.  Lines go to stderr with one write() each, so lines from
 * a crash-restart loop never interleave mid-line in the journal.
 *
 * stderr keeps its blocking file description (it may be shared with the
 * shell or with stdout), so a reader of stderr that stops (a terminal
 * scrolled back, a stopped pipe) would hold the daemon in write().  Each
 * line is therefore offered only when poll() says stderr can take data,
 * waiting LOG_WAIT_MS at most, and not at all while the last line was
 * dropped; otherwise it is dropped and counted (log_dropped).  A line is at
 * most 1 KiB: a pipe that polls writable has a free page and takes it whole
 * (PIPE_BUF); a Unix socket (the journal) has most of its send buffer free.
 * A terminal polls writable with any room at all, so a line longer than
 * that room can still wait; records fill a stalled terminal to the last
 * byte (EAGAIN), which leaves none.
 */
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "stats.h"

static enum log_level threshold = LOG_LVL_INFO;

/* How long a line may wait for stderr to take it, once per stall: a reader
 * that is merely slow (the tests' own, a busy journal) loses nothing, and
 * one that has stopped costs the daemon this much once, not per line. */
#define LOG_WAIT_MS 100
/* The last line was dropped: do not wait again.  Atomic: every worker
 * thread logs (relaxed: a hint, not a handshake). */
static _Atomic int stderr_stalled;
static int to_journal;

void
log_init(enum log_level level)
{
	threshold = level;
	/* systemd sets JOURNAL_STREAM when stderr is connected to journald. */
	to_journal = getenv("JOURNAL_STREAM") != NULL;
}

void
log_set_level(enum log_level level)
{
	threshold = level;
}

int
log_level_parse(const char *s)
{
	if (strcasecmp(s, "error") == 0)
		return LOG_LVL_ERR;
	if (strcasecmp(s, "warning") == 0 || strcasecmp(s, "warn") == 0)
		return LOG_LVL_WARN;
	if (strcasecmp(s, "info") == 0)
		return LOG_LVL_INFO;
	if (strcasecmp(s, "debug") == 0)
		return LOG_LVL_DEBUG;
	return -1;
}

static const char *
level_word(enum log_level level)
{
	switch (level) {
	case LOG_LVL_ERR:   return "error";
	case LOG_LVL_WARN:  return "warning";
	case LOG_LVL_INFO:  return "info";
	case LOG_LVL_DEBUG: return "debug";
	}
	return "?";
}

size_t
log_escape(char *out, size_t outlen, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (outlen == 0)
		return 0;
	for (const unsigned char *q = (const unsigned char *)in; *q != '\0'; q++) {
		if (*q < 0x20 || *q == 0x7f) {
			if (o + 4 >= outlen)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*q >> 4];
			out[o++] = hex[*q & 15];
		} else {
			if (o + 1 >= outlen)
				break;
			out[o++] = (char)*q;
		}
	}
	out[o] = '\0';
	return o;
}

static void
vlog(enum log_level level, int errnum, int may_wait, const char *fmt, va_list ap)
{
	/* The stats line names every counter: about 1.6 KB with them all. */
	char line[4096], msg[4096];
	struct pollfd pfd = { .fd = STDERR_FILENO, .events = POLLOUT };
	size_t n;
	int r;

	if (level > threshold)
		return;
	if (!may_wait && poll(&pfd, 1, atomic_load_explicit(&stderr_stalled, memory_order_relaxed)
			      ? 0 : LOG_WAIT_MS) == 0) {
		STATS_INC(log_dropped);  /* stderr takes nothing: wait no more */
		atomic_store_explicit(&stderr_stalled, 1, memory_order_relaxed);
		return;
	}
	atomic_store_explicit(&stderr_stalled, 0, memory_order_relaxed);
	if (to_journal)
		r = snprintf(line, sizeof(line), "<%d>", (int)level);
	else
		r = snprintf(line, sizeof(line), "ingestd: %s: ", level_word(level));
	n = (size_t)r;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* A path or name with a newline in it must not make a second line
	 * (or a forged journal priority): the line stays one line. */
	n += log_escape(line + n, sizeof(line) - 1 - n, msg);
	if (errnum) {
		r = snprintf(line + n, sizeof(line) - 1 - n, ": %s", strerror(errnum));
		if (r > 0)
			n += (size_t)r;
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;  /* a cut line is still one line */
	}
	line[n++] = '\n';
	while (write(STDERR_FILENO, line, n) < 0 && errno == EINTR)
		;
}

#define LOG_FN(fname, level, with_errno)                       \
	void fname(const char *fmt, ...)                       \
	{                                                      \
		int saved = errno;                             \
		va_list ap;                                    \
		va_start(ap, fmt);                             \
		vlog(level, with_errno ? saved : 0, 0, fmt, ap); \
		va_end(ap);                                    \
		errno = saved;                                 \
	}

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_err, LOG_LVL_ERR, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, saved, 1, fmt, ap);  /* the last words: may wait */
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, 0, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

int
ratelimit_allow(struct ratelimit *rl, double now, uint64_t *suppressed)
{
	if (now - rl->window_start >= rl->interval) {
		rl->window_start = now;
		rl->in_window = 0;
	}
	if (rl->in_window >= rl->burst) {
		rl->suppressed++;
		return 0;
	}
	rl->in_window++;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return 1;
}
