/*
 * conn: one sensor connection, from accept to close.
 *
 * A connection reads into a slab checked out from the pool only while it
 * has bytes to work on: an idle connection holds no slab, just its small
 * framer carry.  Each read is framed and every complete frame becomes a
 * record in the sink's output slab at once; the read slab is released as
 * soon as its bytes are consumed (a small partial frame is copied to the
 * carry first; a large partial TLV frame keeps its slab, counted).
 *
 * Waiting, the source's acquire/release with a waiter cap: no slab to read
 * into, and the connection stops its read watcher and queues in the pool,
 * which hands it the next released slab; no output room for the next
 * record, and it queues at the sink (sink_wait), which calls it back when
 * there is room.  When the pool's read queue reaches its cap, every
 * connection and listener pauses until the queue drains (conn_ctx_pressure).
 *
 * Idle means the peer is silent while ingestd is reading it: time spent
 * waiting for a slab, for output room or in a pause is never counted, and
 * every timeout is measured on the monotonic clock (clock.h).
 *
 * Threads: a ctx and its connections belong to one thread, the one running
 * ctx->loop (a worker's, worker.h); nothing here is shared.  Listeners are
 * shared read-only: a connection reads its listener's conf, fragments and
 * layouts, and counts its records in its own ctx (per_listener).
 *
 * Lifetime: a connection borrows its listener's conf, metadata fragment
 * and layouts (listener.h: released only after conn_ctx_close_all()), and
 * the ctx's pool and sink.  Closing is immediate for the socket, the
 * watcher and the slabs, and deferred for the struct, which is freed at the
 * end of the loop iteration (conn_ctx_reap), so no callback can touch freed
 * memory: one that closes its own or another connection mid-call is safe.
 * Bad input closes the connection after every record completed before it
 * has been written.
 */
#ifndef INGESTD_CONN_H
#define INGESTD_CONN_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "pool.h"
#include "sink.h"

struct conn;
struct listener;

/* Per-listener figures of one ctx, indexed by listener_conf position. */
struct conn_listener_count {
	uint64_t records, bytes_in;
	size_t   conns;          /* open now */
};

/* Called when the ctx's reads pause (1) or resume (0), after every
 * connection has been told: the owner pauses accepting. */
typedef void conn_pressure_hook(void *arg, int paused);
/* Called after a connection of the ctx closed (the owner's count). */
typedef void conn_closed_hook(void *arg);

/* What the connections of one loop share.  Owned by their worker. */
struct conn_ctx {
	struct ev_loop  *loop;
	struct pool     *pool;
	struct sink     *sink;
	int              metadata;
	size_t           max_connections;
	size_t           nconns;
	struct conn     *conns;          /* open connections, latest activity first */
	struct conn     *conns_tail;     /* the longest without activity */
	struct conn     *closed;         /* closed, not yet freed (conn_ctx_reap) */
	ev_prepare       reap;           /* frees `closed` at the end of an iteration */
	struct conn     *retained_head;  /* connections keeping a slab for a */
	struct conn     *retained_tail;  /*   partial frame, stalest first */
	size_t           retained_slabs;
	size_t           max_retained;
	double           idle_timeout;   /* seconds; 0 = never */
	ev_timer         idle_sweep;
	ev_timer         drain_sweep;    /* shutdown: closes quiet connections */
	size_t           nlisteners;     /* entries of per_listener in use */
	struct conn_listener_count per_listener[CONFIG_MAX_LISTENERS];
	conn_pressure_hook *on_pressure; /* may be NULL */
	conn_closed_hook   *on_closed;   /* may be NULL */
	void            *hook_arg;
	int              paused;         /* pool pressure */
	int              stopping;       /* shutdown: drain and close */
	double           paused_since;   /* clock_mono() */
	double           paused_total;   /* seconds */
	uint64_t         retained_bytes; /* in partial frames kept in slabs */
	size_t           read_slabs;     /* slabs held by connections */
	char             rx[48];         /* `,"_rx_ms":N` for rx_at */
	size_t           rx_len;
	ev_tstamp        rx_at;          /* wall clock: records say when they came */
};

/* Sets up what ctx needs besides its fields (the reaper).  Call once,
 * after ctx->loop is set. */
void conn_ctx_init(struct conn_ctx *ctx);

/* Takes ownership of fd (a connected, non-blocking socket) and of src, its
 * source's entry (access.h; NULL: none, released when the connection
 * closes), and starts reading.  Returns 0, or -1 when memory ran out (fd is
 * then closed and src released). */
int conn_new(struct conn_ctx *ctx, struct listener *l, int fd, const struct sockaddr *peer,
	     socklen_t peerlen, struct access_source *src);

/* pool_pressure_cb for the ctx: pauses (1) or resumes (0) every connection,
 * then tells ctx->on_pressure. */
void conn_ctx_pressure(void *ctx, int paused);

/* Starts the timer that closes connections idle for ctx->idle_timeout. */
void conn_ctx_start_idle_sweep(struct conn_ctx *ctx);

/* Shutdown: every connection reads what its peer has sent (until its end
 * of stream, or until it stays quiet), writes the records, and closes. */
void conn_ctx_drain_all(struct conn_ctx *ctx);

/* Closes every connection at once (end of shutdown or its timeout). */
void conn_ctx_close_all(struct conn_ctx *ctx);

/* Frees the connections closed so far (also run by the ctx's prepare
 * watcher at the end of every loop iteration). */
void conn_ctx_reap(struct conn_ctx *ctx);

/* The gauges of one ctx, its pool and its sink, taken at one moment by
 * its own thread (a worker publishes them for the main thread to read). */
struct conn_gauges {
	size_t            conns, read_slabs, output_waiters;
	int               paused, stopping, sink_empty;
	double            paused_since;   /* clock_mono(), while paused */
	double            paused_total;   /* ended pauses, seconds */
	uint64_t          retained_bytes;
	struct pool_stats pool;
	size_t            nlisteners;
	struct conn_listener_count per_listener[CONFIG_MAX_LISTENERS];
};

/* Fills g from ctx.  Reads only; call from ctx's thread. */
void conn_ctx_gauges(const struct conn_ctx *ctx, struct conn_gauges *g);

struct stats_view;
/* Adds one ctx's gauges g, at time now, to v: sums, except that the
 * paused figures are the longest of any (v->nlisteners must be set). */
void conn_gauges_add(const struct conn_gauges *g, double now, struct stats_view *v);

/* Formats an address as "a.b.c.d:port" or "[v6]:port". */
void conn_format_addr(const struct sockaddr *sa, char *out, size_t outlen);

#endif
