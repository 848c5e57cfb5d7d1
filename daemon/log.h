/*
 * log: the daemon's diagnostics on stderr, never mixed with records.
 *
 * When stderr is the journal (JOURNAL_STREAM names it) every line carries the
 * "<N>" priority prefix journald understands; otherwise lines are plain with
 * a level word.  Logging never waits long for a reader of stderr that
 * stopped: a line stderr cannot take within 0.1 s (at once, while the last
 * one was dropped) is dropped and counted (log_dropped), except fatal()'s
 * last words.  Per-peer events go through a struct ratelimit so a hostile
 * or broken fleet cannot flood the log.
 */
#ifndef INGESTD_LOG_H
#define INGESTD_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/*
 * Copies in to out (NUL-terminated unless outlen is 0) with each control
 * byte written as \xNN, so text from a file, the command line or a peer
 * cannot start a line, forge a priority or send a terminal escape.  Cuts
 * between characters, never inside an escape.  Returns the bytes written.
 * Every log line goes through it.
 */
size_t log_escape(char *out, size_t outlen, const char *in);

/* Reads JOURNAL_STREAM once and sets the threshold. */
void log_init(enum log_level threshold);
void log_set_level(enum log_level threshold);
/* Parses "error|warning|info|debug"; returns -1 for anything else. */
int log_level_parse(const char *s);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* appends strerror(errno) */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* strerror, exit 1 */
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * At most `burst` lines per `interval` seconds; the first line after a quiet
 * spell reports how many were suppressed.  The caller owns the struct.
 */
struct ratelimit {
	double   interval;
	unsigned burst;
	double   window_start;
	unsigned in_window;
	uint64_t suppressed;
};
#define RATELIMIT_INIT(interval, burst) { (interval), (burst), 0, 0, 0 }

/*
 * Returns 1 when a line may be logged at time `now` (seconds); *suppressed
 * receives the count of lines dropped since the last allowed one.
 */
int ratelimit_allow(struct ratelimit *rl, double now, uint64_t *suppressed);

#endif
