/*
 * metrics: an optional second listener serving the daemon's counters in the
 * Prometheus text exposition format (version 0.0.4) at GET /metrics and a
 * health check at GET /healthz ([metrics] in the config).
 *
 * The HTTP side is deliberately small and bounded (see http.h for why not
 * libmicrohttpd): non-blocking accept on the loop; at most
 * METRICS_MAX_CLIENTS clients at a time (more are accepted and closed at
 * once, counted); one fixed METRICS_REQUEST_MAX-byte request buffer per
 * client (a longer head gets 431); the whole request must arrive within
 * METRICS_READ_TIMEOUT seconds (a slow client is closed, counted, without
 * holding up anyone else); one request per connection, answered with
 * Content-Length and Connection: close, written without blocking (a write
 * watcher finishes what the first write could not send); then the write
 * side is shut and whatever the client still sends is read and dropped for
 * at most METRICS_LINGER seconds before the close, so the answer is not
 * lost to a reset.  Routes: /metrics and /healthz (GET and HEAD), 404 for
 * other paths, 405 for other methods, 400 for a malformed request.
 *
 * /healthz: 200 "ok\n", or 503 with one reason line while the output has
 * taken nothing for longer than the config's unhealthy_after while records
 * wait for it, while reads have been paused that long, while the output is
 * failing, or once shutdown has begun.  Durations are on the monotonic
 * clock (clock.h).
 *
 * What it shows comes from one struct stats_view per request, filled by a
 * callback at that moment (workers_view() in the daemon): this module
 * reads that plain struct only, not connections, listeners, pool or sink.
 *
 * Memory: the metrics struct, plus per client its struct (~5 KiB) and the
 * rendered body while it is being sent.  Single-threaded, on the daemon's
 * loop.  The renderer and the health check are pure functions of their
 * arguments, for the unit tests.
 */
#ifndef INGESTD_METRICS_H
#define INGESTD_METRICS_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct metrics;
struct stats_view;

/* Fills *v with the daemon's state at now (clock_mono()). */
typedef void (*metrics_view_fn)(void *arg, double now, struct stats_view *v);

#define METRICS_MAX_CLIENTS  16
#define METRICS_REQUEST_MAX  4096   /* request line + headers */
#define METRICS_READ_TIMEOUT 5.0    /* seconds from accept to a complete request */
#define METRICS_WRITE_TIMEOUT 5.0   /* seconds to take the response */
#define METRICS_LINGER       1.0    /* seconds to drain the client before closing */

/*
 * Binds cfg->metrics_address:metrics_port (port 0: an ephemeral one, see
 * metrics_bound) and starts accepting on loop.  cfg, loop and view_arg are
 * borrowed and must outlive the result; view is called for every request; the caller owns the result
 * (metrics_free).  Returns NULL with a one-line message in err when the
 * socket cannot be had.
 */
struct metrics *metrics_new(struct ev_loop *loop, const struct config *cfg,
			    metrics_view_fn view, void *view_arg, char *err, size_t errlen);

/* The address actually bound, "127.0.0.1:9464" or "[::1]:9464"; static in m. */
const char *metrics_bound(const struct metrics *m);

/* Shutdown: closes the listening socket; clients in progress finish.
 * Idempotent; NULL is fine. */
void metrics_stop_accepting(struct metrics *m);

/* Closes the listening socket and every client at once, frees m.  NULL is fine. */
void metrics_free(struct metrics *m);

/*
 * What the renderer needs besides the stats view: values read at scrape
 * time by the caller (so the renderer itself does no I/O), and the HTTP
 * side's own counters.
 */
struct metrics_view {
	uint64_t  rss_bytes;      /* resident set size; 0: not rendered */
	size_t    http_clients;   /* metrics clients connected */
	uint64_t  http_requests;  /* requests answered, any status */
	uint64_t  http_refused;   /* over METRICS_MAX_CLIENTS, closed at once */
	uint64_t  http_timeouts;  /* closed for a request not sent in time */
};

/*
 * Writes the exposition text for sv (borrowed; with have_conns, have_pool
 * or have_output 0 those families are left out) into buf, snprintf-like:
 * it returns the length the whole text needs, excluding the NUL, and buf
 * holds all of it (NUL-terminated) only when that is < cap.  cap may be 0
 * (buf may then be NULL) to learn the size.  view may be NULL.
 */
size_t metrics_render(char *buf, size_t cap, const struct stats_view *sv,
		      const struct metrics_view *view);

/*
 * The health check of sv: returns 200, or 503 with the reason (one line,
 * no newline) in reason[0, reasonlen).  unhealthy_after in seconds.
 */
int metrics_health(const struct stats_view *sv, double unhealthy_after, char *reason,
		   size_t reasonlen);

/* This process's resident set size in bytes (/proc/self/statm), 0 if unknown. */
uint64_t metrics_read_rss(void);

#endif
