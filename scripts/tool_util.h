/*
 * tool_util.h: the error and number helpers the benchmark tools share
 * (loadgen, checker, rawsink).  Each tool defines TOOL_NAME and
 * TOOL_HELP_FLAG before including it.
 */
#ifndef INGESTD_TOOL_UTIL_H
#define INGESTD_TOOL_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Bad command line: says so, points at the usage text, exits 64. */
static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs(TOOL_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (" TOOL_NAME " " TOOL_HELP_FLAG " for usage)\n", stderr);
	exit(64);
}

/* Runtime failure: one line, exit 1. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fputs(TOOL_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A strictly decimal number in [min, max], else a usage error naming `what`. */
static __attribute__((unused)) uint64_t
parse_u64(const char *s, uint64_t min, uint64_t max, const char *what)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		usage_error("%s: not a number: '%s'", what, s);
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		usage_error("%s: not a number: '%s'", what, s);
	if (v < min || v > max)
		usage_error("%s: %llu out of range %llu..%llu", what, v,
			    (unsigned long long)min, (unsigned long long)max);
	return v;
}

#endif
