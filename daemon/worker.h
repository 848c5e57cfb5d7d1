/*
 * worker: the event loops that own sensor connections, and the one place
 * the main thread reaches them through.
 *
 * With `[daemon] workers = 1` the single worker is the main thread's own
 * loop: connections, pool and sink live there, nothing is handed between
 * threads, and this module only forwards calls (one loop costs what it
 * always did).  With N >= 2 each worker is a thread with its own libev loop
 * (ev_loop_new), its own connections and its own share of the slab pool:
 * the [pool] figures are totals, split evenly (slabs, overflow,
 * max_retained, max_waiters, waiters_low; reserve is per share), so memory
 * does not grow with the worker count.
 *
 * The main thread accepts (listeners, socket activation included) and hands
 * each connection to the worker with the fewest (ties: the lowest number),
 * so long-lived sensors stay spread evenly however they arrive.  The output
 * has one writer, the main thread (sink.h: relay and writer sinks).
 *
 * What crosses threads, and how:
 * - handed connections: a list under the worker's mutex, then its ev_async;
 * - commands (drain, close all, stop): bits in an atomic word, then ev_async;
 * - output slabs: the worker's relay rings (relay.h), lock-free;
 * - `assigned`, the worker's open connections: a C11 atomic, because two
 *   threads change it (main adds one when it hands a connection over, the
 *   worker takes one off when the connection closes), once per connection;
 * - gauges (conn_gauges): the worker copies its own at the end of each loop
 *   iteration into a block under its mutex; the main thread reads the copy;
 * - counters: the worker's own stats block (stats.h);
 * - `beats`: a heartbeat the worker's loop bumps; the main thread sends the
 *   systemd watchdog ping only while every worker's beats move.
 * Signals are blocked in worker threads: they reach the main thread only.
 */
#ifndef INGESTD_WORKER_H
#define INGESTD_WORKER_H

#include <ev.h>
#include <stddef.h>

#include "config.h"
#include "listener.h"
#include "sink.h"
#include "stats.h"

#define WORKERS_MAX CONFIG_MAX_WORKERS

struct workers;

/* Called on the main thread when reads pause on every worker (1), and when
 * any worker reads again (0): main pauses accepting. */
typedef void workers_pressure_cb(void *arg, int all_paused);

/*
 * The number of workers `workers = auto` means: the CPUs in the process's
 * affinity mask, at most WORKERS_MAX, and no more than the pool can give
 * each a usable share of (workers_max_for_pool).  `configured` is the key's
 * value (0: auto).
 */
size_t workers_resolve(size_t configured, const struct pool_conf *pool);
/* The CPUs in the process's affinity mask, at most WORKERS_MAX. */
size_t workers_cpus(void);
/* The most workers the pool's slabs can be split between: each share needs
 * reserve + 2 slabs (one to read into, one for output). */
size_t workers_max_for_pool(const struct pool_conf *pool);
/* Worker k's share of the pool `total` split n ways. */
void workers_pool_share(const struct pool_conf *total, size_t n, size_t k, struct pool_conf *out);

struct kafka;

/*
 * Creates n workers for cfg (borrowed for their lifetime) on main_loop and
 * opens the output (cfg->output_path, or kafka, borrowed, when cfg's output
 * type is kafka); threads (n >= 2) start reading at
 * once, though they have no connections until listeners hand them some.
 * fail is called on the main thread when the output is gone for good.
 * heartbeat: seconds between the workers' beats (0: none).  Returns NULL
 * with a message in err.
 */
struct workers *workers_new(struct ev_loop *main_loop, const struct config *cfg, size_t n,
			    double heartbeat, sink_fail_cb *fail, void *fail_arg,
			    workers_pressure_cb *pressure, void *pressure_arg, struct kafka *kafka,
			    char *err, size_t errlen);

/* For the listeners: hands each accepted connection to a worker. */
const struct listener_hooks *workers_hooks(struct workers *ws);
size_t workers_count(const struct workers *ws);
/* The output every record goes to (SIGHUP reopens it). */
struct sink *workers_output(struct workers *ws);
/* Connections open (handed over and not yet closed) on every worker. */
size_t workers_conns(struct workers *ws);

/* Shutdown: every worker drains its connections (conn_ctx_drain_all). */
void workers_drain(struct workers *ws);
/* Every worker closes its connections now. */
void workers_close_all(struct workers *ws);
/* 1 once, after workers_drain(), no connection is left anywhere and every
 * record is with the output's sink (which may still be writing them). */
int workers_done(struct workers *ws);

/* Fills v: the counters, every worker's gauges summed, the output's, and
 * per-worker connections and records.  Listener names come from cfg. */
void workers_view(struct workers *ws, double now, struct stats_view *v);

/* 1 when every worker's loop has beaten since the last call; else 0 with
 * the first that has not in *stuck.  Always 1 for one worker (the main
 * loop, which is what calls this). */
int workers_beating(struct workers *ws, size_t *stuck);

/* Stops every worker thread and waits for it (after the main loop ended),
 * then closes the connections left.  Returns 0, or -1 when a thread has not
 * stopped within about `timeout` seconds (its loop is stuck; nothing may
 * then be freed). */
int workers_stop(struct workers *ws, double timeout);
/* Frees everything (after workers_stop); connections left are closed. */
void workers_free(struct workers *ws);

#endif
