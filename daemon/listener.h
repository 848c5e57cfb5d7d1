/*
 * listener: one configured listening socket and what its connections share.
 *
 * A listener binds its address (IPv4 or IPv6), accepts without blocking,
 * refuses connections over max_connections (accepted and closed at once,
 * counted), and backs off for a second when the process is out of
 * descriptors instead of spinning on a readable socket it cannot accept.
 * It owns the record fragments its connections reuse: the `_listener`
 * metadata and the layouts of its schemas (borrowed from main).
 */
#ifndef INGESTD_LISTENER_H
#define INGESTD_LISTENER_H

#include <ev.h>

#include "config.h"
#include "record.h"

struct conn_ctx;

struct listener {
	ev_io                        io;
	ev_timer                     backoff;       /* EMFILE: retry accept later */
	int                          fd;
	int                          paused;        /* by pool pressure or shutdown */
	const struct listener_conf  *conf;          /* borrowed from the config */
	const struct record_layout  *layout;        /* fixed: its schema's layout */
	const struct record_layout  *tlv_layout[256]; /* tlv: NULL = raw record */
	char                        *meta;          /* `,"_listener":"name"` */
	size_t                       meta_len;
	char                         bound[80];     /* "127.0.0.1:7001" as bound */
	struct conn_ctx             *ctx;
};

/*
 * Binds and listens for conf (borrowed; must outlive l).  layout_of maps a
 * schema to its prepared layout.  Returns 0, or -1 with a message in err.
 */
int listener_open(struct listener *l, const struct listener_conf *conf, struct conn_ctx *ctx,
		  const struct record_layout *(*layout_of)(const struct schema *), char *err,
		  size_t errlen);
/* Starts accepting (no-op while paused). */
void listener_start(struct listener *l);
/* Stops accepting without closing (pool pressure).  pause=0 resumes. */
void listener_pause(struct listener *l, int pause);
/* Stops and closes the socket; frees the listener's fragments. */
void listener_close(struct listener *l);

#endif
