/*
 * status: the status page of the metrics listener.  GET / is one
 * self-contained HTML page (daemon/status.html, compiled in: no external
 * script, style, font or image, since sensor networks are often offline);
 * it draws itself from GET /status.json, fetched every few seconds.  The
 * JSON document's fields are listed in the README ("Status page").
 *
 * status_json() is a pure function of its arguments (no I/O, no clock):
 * the caller (metrics.c) takes the view, keeps the history and says how
 * long the daemon has been up.
 */
#ifndef INGESTD_STATUS_H
#define INGESTD_STATUS_H

#include <stddef.h>

struct config;
struct history;
struct stats_view;

/* The page, NUL-terminated; static. */
extern const char *const status_page_html;
extern const size_t      status_page_len;

/*
 * Renders /status.json for sv at sv->now: cfg, sv and h are borrowed for
 * the call.  Returns a malloc'd NUL-terminated document the caller owns
 * (free()), its length in *len; NULL when out of memory.
 */
char *status_json(const struct config *cfg, const struct stats_view *sv,
		  const struct history *h, double uptime, size_t *len);

#endif
