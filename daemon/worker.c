/*
 * worker: see worker.h.
 *
 * A worker thread's loop runs, besides its connections' watchers:
 *   wake      ev_async: handed connections, slabs back from the writer,
 *             commands (in that order, so a connection handed over before a
 *             drain is drained with the rest);
 *   publish   ev_prepare at the lowest priority, after the sink's flush: the
 *             gauges copy, and the one "done draining" wake-up for main;
 *   heartbeat ev_timer: bumps `beats` (the watchdog's evidence).
 * The main loop runs the writer sink and one ev_async for all workers
 * (slabs to write, pause changes, a worker done).
 */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "pool.h"
#include "relay.h"

enum {
	CMD_DRAIN     = 1u << 0,
	CMD_CLOSE_ALL = 1u << 1,
	CMD_STOP      = 1u << 2,
};

/* A connection accepted by main, on its way to a worker. */
struct handoff {
	struct handoff         *next;
	struct listener        *l;
	struct access_source   *src;
	int                     fd;
	socklen_t               peerlen;
	struct sockaddr_storage peer;
};

struct worker {
	struct workers     *ws;
	size_t              index;
	size_t              stats_block;    /* 0 for the main thread's own loop */
	int                 threaded;
	pthread_t           thread;
	struct ev_loop     *loop;
	struct pool        *pool;
	struct sink        *sink;
	struct conn_ctx     ctx;
	struct relay        relay;
	ev_async            wake;
	ev_prepare          publish;
	ev_timer            heartbeat;
	int                 told_done;      /* worker thread only */

	_Atomic unsigned    cmds;
	_Atomic size_t      assigned;       /* see worker.h */
	_Atomic uint64_t    beats;          /* written by the worker only */
	_Atomic int         paused;         /* written by the worker only */

	pthread_mutex_t     lock;           /* handoffs, gauges */
	struct handoff     *handoff_head, *handoff_tail;
	struct conn_gauges  gauges;         /* the worker's, as of its last iteration */
};

struct workers {
	struct ev_loop       *main_loop;
	const struct config  *cfg;
	size_t                n;
	struct worker        *w;
	struct sink          *out;
	ev_async              wake;          /* main's: n >= 2 */
	struct listener_hooks hooks;
	workers_pressure_cb  *pressure;
	void                 *pressure_arg;
	sink_fail_cb         *fail;          /* the output is gone */
	struct kafka         *kafka;         /* [output] type = kafka: borrowed, else NULL */
	void                 *fail_arg;
	int                   all_paused;    /* n >= 2: as main_on_wake last told */
	int                   joined;
	uint64_t              last_beats[WORKERS_MAX];
	long                  stall_worker;  /* test builds: the worker that blocks; -1 */
};

size_t
workers_max_for_pool(const struct pool_conf *pool)
{
	size_t n = pool->slabs / (pool->reserve + 2);

	return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : n;
}

size_t
workers_cpus(void)
{
	cpu_set_t set;
	size_t n = 1;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		n = (size_t)CPU_COUNT(&set);
	return n > WORKERS_MAX ? WORKERS_MAX : n;
}

size_t
workers_resolve(size_t configured, const struct pool_conf *pool)
{
	size_t n = configured;

	if (n == 0) {
		n = workers_cpus();
		if (n > workers_max_for_pool(pool))
			n = workers_max_for_pool(pool);
	}
	return n;
}

/* k's part of `total` split n ways: the remainder goes to the first ones. */
static size_t
split(size_t total, size_t n, size_t k)
{
	return total / n + (k < total % n ? 1 : 0);
}

void
workers_pool_share(const struct pool_conf *total, size_t n, size_t k, struct pool_conf *out)
{
	*out = *total;
	if (n <= 1)
		return;
	out->slabs = split(total->slabs, n, k);
	out->overflow = split(total->overflow, n, k);
	out->max_retained = split(total->max_retained, n, k);
	out->max_waiters = split(total->max_waiters, n, k);
	out->waiters_low = split(total->waiters_low, n, k);
	/* Each share usable on its own (workers_max_for_pool checked it has
	 * reserve + 2 slabs). */
	if (out->max_retained < 1)
		out->max_retained = 1;
	if (out->max_retained > out->slabs - out->reserve)
		out->max_retained = out->slabs - out->reserve;
	if (out->max_waiters < 1)
		out->max_waiters = 1;
	if (out->waiters_low >= out->max_waiters)
		out->waiters_low = out->max_waiters - 1;
}

/* ---- on the worker's thread ---- */

static void
begin_drain(struct worker *k)
{
	k->ctx.stopping = 1;
	conn_ctx_drain_all(&k->ctx);
	ev_timer_stop(k->loop, &k->ctx.idle_sweep);
}

static void
close_all(struct worker *k)
{
	conn_ctx_close_all(&k->ctx);
	ev_timer_stop(k->loop, &k->ctx.drain_sweep);
}

static void
take_back_slabs(struct worker *k)
{
	uint8_t *slab;
	size_t n = 0;

	while ((slab = relay_take_back(&k->relay)) != NULL) {
		pool_give_back(k->pool, slab);
		n++;
	}
	if (k->sink != NULL)
		sink_relay_returned(k->sink, n);   /* n = 0: writer_blocked may have changed */
}

static void
start_conn(struct worker *k, struct listener *l, int fd, const struct sockaddr *peer,
	   socklen_t peerlen, struct access_source *src)
{
	if (conn_new(&k->ctx, l, fd, peer, peerlen, src) < 0)
		atomic_fetch_sub_explicit(&k->assigned, 1, memory_order_relaxed);
#ifdef INGESTD_TESTING
	/* The watchdog test: this worker's loop stops making progress. */
	if (k->ws->stall_worker == (long)k->index) {
		log_warnx("worker %zu: blocking its loop on purpose (INGESTD_TEST_STALL_WORKER)",
			  k->index);
		for (;;)
			sleep(1);
	}
#endif
}

/* On the worker's own loop's thread. */
static void
run_cmds(struct worker *k, unsigned cmds)
{
	if (cmds & CMD_DRAIN)
		begin_drain(k);
	if (cmds & CMD_CLOSE_ALL)
		close_all(k);
	if (cmds & CMD_STOP)
		ev_break(k->loop, EVBREAK_ALL);
}

static void
worker_on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct worker *k = w->data;
	unsigned cmds = atomic_exchange_explicit(&k->cmds, 0, memory_order_acquire);
	struct handoff *h;

	(void)loop;
	(void)revents;
	take_back_slabs(k);
	pthread_mutex_lock(&k->lock);
	h = k->handoff_head;
	k->handoff_head = k->handoff_tail = NULL;
	pthread_mutex_unlock(&k->lock);
	while (h != NULL) {
		struct handoff *next = h->next;

		start_conn(k, h->l, h->fd, (struct sockaddr *)&h->peer, h->peerlen, h->src);
		free(h);
		h = next;
	}
	run_cmds(k, cmds);
}

static void
worker_on_publish(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct worker *k = w->data;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&k->lock);
	conn_ctx_gauges(&k->ctx, &k->gauges);
	pthread_mutex_unlock(&k->lock);
	if (k->ctx.stopping && !k->told_done && k->ctx.nconns == 0 && sink_empty(k->sink)) {
		k->told_done = 1;
		ev_async_send(k->ws->main_loop, &k->ws->wake);
	}
}

static void
worker_on_heartbeat(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct worker *k = w->data;

	(void)loop;
	(void)revents;
	atomic_store_explicit(&k->beats,
			      atomic_load_explicit(&k->beats, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* conn_pressure_hook of a worker thread's ctx. */
static void
worker_pressure(void *arg, int paused)
{
	struct worker *k = arg;

	atomic_store_explicit(&k->paused, paused, memory_order_relaxed);
	ev_async_send(k->ws->main_loop, &k->ws->wake);
}

/* conn_closed_hook: one connection fewer. */
static void
worker_conn_closed(void *arg)
{
	struct worker *k = arg;

	atomic_fetch_sub_explicit(&k->assigned, 1, memory_order_relaxed);
}

static void *
worker_main(void *arg)
{
	struct worker *k = arg;
	char name[16];

	/* "ingestd-w3" in top -H, ps -T and /proc/PID/task/TID/comm. */
	snprintf(name, sizeof(name), "ingestd-w%zu", k->index);
	pthread_setname_np(pthread_self(), name);
	stats_bind(k->stats_block);
	ev_run(k->loop, 0);
	return NULL;
}

/* ---- on the main thread ---- */

/* conn_pressure_hook of the main loop's own ctx (one worker). */
static void
inline_pressure(void *arg, int paused)
{
	struct worker *k = arg;

	k->ws->pressure(k->ws->pressure_arg, paused);
}

static void
main_on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct workers *ws = w->data;
	struct relay_slab rs;
	int all = 1;

	(void)loop;
	(void)revents;
	for (size_t i = 0; i < ws->n; i++) {
		struct worker *k = &ws->w[i];

		while (relay_pop(&k->relay, &rs))
			sink_adopt(ws->out, &k->relay, rs.slab, rs.off, rs.len);
		if (!atomic_load_explicit(&k->paused, memory_order_relaxed))
			all = 0;
	}
	if (all != ws->all_paused) {
		ws->all_paused = all;
		ws->pressure(ws->pressure_arg, all);
	}
}

/* sink_blocked_cb of the writer: lifts (1) or restores (0) every worker's
 * bound on slabs queued for the output, and wakes each to look. */
static void
writer_blocked(void *arg, int blocked)
{
	struct workers *ws = arg;

	for (size_t i = 0; i < ws->n; i++) {
		atomic_store_explicit(&ws->w[i].relay.writer_blocked, blocked, memory_order_relaxed);
		ev_async_send(ws->w[i].loop, &ws->w[i].wake);
	}
}

static void
send_cmd(struct worker *k, unsigned cmd)
{
	atomic_fetch_or_explicit(&k->cmds, cmd, memory_order_release);
	ev_async_send(k->loop, &k->wake);
}

static size_t
hook_open_conns(void *arg)
{
	return workers_conns(arg);
}

/* listener_hooks.take: the worker with the fewest connections gets fd. */
static int
hook_take(void *arg, struct listener *l, int fd, const struct sockaddr *peer, socklen_t peerlen,
	  struct access_source *src)
{
	struct workers *ws = arg;
	struct worker *k = &ws->w[0];
	size_t least = atomic_load_explicit(&k->assigned, memory_order_relaxed);
	struct handoff *h;

	for (size_t i = 1; i < ws->n; i++) {
		size_t a = atomic_load_explicit(&ws->w[i].assigned, memory_order_relaxed);

		if (a < least) {
			least = a;
			k = &ws->w[i];
		}
	}
	atomic_fetch_add_explicit(&k->assigned, 1, memory_order_relaxed);
	if (!k->threaded) {
		start_conn(k, l, fd, peer, peerlen, src);
		return 0;
	}
	h = malloc(sizeof(*h));
	if (h == NULL) {
		close(fd);
		access_release(src);
		atomic_fetch_sub_explicit(&k->assigned, 1, memory_order_relaxed);
		return -1;
	}
	h->next = NULL;
	h->l = l;
	h->src = src;
	h->fd = fd;
	h->peerlen = peerlen <= sizeof(h->peer) ? peerlen : sizeof(h->peer);
	memcpy(&h->peer, peer, h->peerlen);
	pthread_mutex_lock(&k->lock);
	if (k->handoff_tail != NULL)
		k->handoff_tail->next = h;
	else
		k->handoff_head = h;
	k->handoff_tail = h;
	pthread_mutex_unlock(&k->lock);
	ev_async_send(k->loop, &k->wake);
	return 0;
}

/* The output's message, said to be the output's.  Returns -1. */
static int
output_error(char *err, size_t errlen)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s", err);
	snprintf(err, errlen, "output: %s", msg);
	return -1;
}

static int
worker_setup(struct workers *ws, struct worker *k, size_t index, double heartbeat, char *err,
	     size_t errlen)
{
	const struct config *cfg = ws->cfg;
	struct pool_conf share;

	k->ws = ws;
	k->index = index;
	k->threaded = ws->n > 1;
	k->stats_block = k->threaded ? index + 1 : 0;
	atomic_init(&k->cmds, 0);
	atomic_init(&k->assigned, 0);
	atomic_init(&k->beats, 0);
	atomic_init(&k->paused, 0);
	pthread_mutex_init(&k->lock, NULL);
	if (k->threaded) {
		k->loop = ev_loop_new(EVBACKEND_EPOLL);
		if (k->loop == NULL)
			k->loop = ev_loop_new(EVFLAG_AUTO);
		if (k->loop == NULL) {
			snprintf(err, errlen, "worker %zu: cannot create its event loop", index);
			return -1;
		}
	} else {
		k->loop = ws->main_loop;
	}
	workers_pool_share(&cfg->pool, ws->n, index, &share);
	k->pool = pool_new(&share, conn_ctx_pressure, &k->ctx);
	if (k->pool == NULL) {
		snprintf(err, errlen, "cannot allocate the slab pool (%zu x %zu bytes)", share.slabs,
			 share.slab_size);
		return -1;
	}
	k->ctx.loop = k->loop;
	conn_ctx_init(&k->ctx);
	k->ctx.pool = k->pool;
	k->ctx.metadata = cfg->metadata;
	k->ctx.max_connections = cfg->max_connections;
	k->ctx.max_retained = share.max_retained;
	k->ctx.idle_timeout = cfg->idle_timeout;
	k->ctx.nlisteners = cfg->nlisteners;
	k->ctx.on_pressure = k->threaded ? worker_pressure : inline_pressure;
	k->ctx.on_closed = worker_conn_closed;
	k->ctx.hook_arg = k;
	if (!k->threaded) {
		k->ctx.sink = k->sink = ws->out =
			ws->kafka != NULL ? sink_new_kafka(k->loop, k->pool, 0, 0, ws->kafka, err, errlen) :
			sink_new(k->loop, k->pool, cfg->output_path, ws->fail, ws->fail_arg, err, errlen);
		if (k->sink == NULL)
			return output_error(err, errlen);
		conn_ctx_start_idle_sweep(&k->ctx);
		return 0;
	}
	ev_async_init(&k->wake, worker_on_wake);
	k->wake.data = k;
	ev_async_start(k->loop, &k->wake);
	if (relay_init(&k->relay, pool_capacity(k->pool), ws->main_loop, &ws->wake, k->loop,
		       &k->wake) < 0 ||
	    (k->sink = sink_new_relay(k->loop, k->pool, &k->relay)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	k->ctx.sink = k->sink;
	ev_prepare_init(&k->publish, worker_on_publish);
	ev_set_priority(&k->publish, EV_MINPRI);
	k->publish.data = k;
	ev_prepare_start(k->loop, &k->publish);
	if (heartbeat > 0) {
		ev_timer_init(&k->heartbeat, worker_on_heartbeat, heartbeat, heartbeat);
		k->heartbeat.data = k;
		ev_timer_start(k->loop, &k->heartbeat);
	}
	conn_ctx_gauges(&k->ctx, &k->gauges);
	conn_ctx_start_idle_sweep(&k->ctx);
	return 0;
}

struct workers *
workers_new(struct ev_loop *main_loop, const struct config *cfg, size_t n, double heartbeat,
	    sink_fail_cb *fail, void *fail_arg, workers_pressure_cb *pressure, void *pressure_arg,
	    struct kafka *kafka, char *err, size_t errlen)
{
	struct workers *ws = calloc(1, sizeof(*ws));
	sigset_t all, old;

	if (ws == NULL || n < 1 || n > WORKERS_MAX || (ws->w = calloc(n, sizeof(*ws->w))) == NULL) {
		free(ws);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ws->main_loop = main_loop;
	ws->cfg = cfg;
	ws->n = n;
	ws->pressure = pressure;
	ws->pressure_arg = pressure_arg;
	ws->fail = fail;
	ws->kafka = kafka;
	ws->fail_arg = fail_arg;
	ws->hooks = (struct listener_hooks){ hook_take, hook_open_conns, cfg->max_connections, ws };
	ws->stall_worker = -1;
#ifdef INGESTD_TESTING
	if (getenv("INGESTD_TEST_STALL_WORKER") != NULL)
		ws->stall_worker = strtol(getenv("INGESTD_TEST_STALL_WORKER"), NULL, 10);
#endif
	if (n > 1) {
		ev_async_init(&ws->wake, main_on_wake);
		ws->wake.data = ws;
		ev_async_start(main_loop, &ws->wake);
		ws->out = kafka != NULL ?
			  sink_new_kafka(main_loop, NULL, cfg->pool.slab_size,
					 cfg->pool.slabs + cfg->pool.overflow, kafka, err, errlen) :
			  sink_new_writer(main_loop, cfg->pool.slab_size,
					  cfg->pool.slabs + cfg->pool.overflow, cfg->output_path,
					  fail, fail_arg, err, errlen);
		if (ws->out != NULL)
			sink_set_blocked_cb(ws->out, writer_blocked, ws);
		if (ws->out == NULL) {
			output_error(err, errlen);
			ev_async_stop(main_loop, &ws->wake);
			free(ws->w);
			free(ws);
			return NULL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (worker_setup(ws, &ws->w[i], i, heartbeat, err, errlen) < 0) {
			ws->n = i + 1;
			workers_free(ws);
			return NULL;
		}
	}
	if (n == 1)
		return ws;
	/* Signals are for the main thread's loop alone. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (size_t i = 0; i < n; i++) {
		int rc = pthread_create(&ws->w[i].thread, NULL, worker_main, &ws->w[i]);

		if (rc != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			snprintf(err, errlen, "worker %zu: cannot start its thread: %s", i, strerror(rc));
			/* The ones started are stopped; the rest never ran. */
			for (size_t j = i; j < n; j++)
				ws->w[j].threaded = 0;
			workers_stop(ws, 10);
			workers_free(ws);
			return NULL;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ws;
}

const struct listener_hooks *
workers_hooks(struct workers *ws)
{
	return &ws->hooks;
}

size_t
workers_count(const struct workers *ws)
{
	return ws->n;
}

struct sink *
workers_output(struct workers *ws)
{
	return ws->out;
}

size_t
workers_conns(struct workers *ws)
{
	size_t n = 0;

	for (size_t i = 0; i < ws->n; i++)
		n += atomic_load_explicit(&ws->w[i].assigned, memory_order_relaxed);
	return n;
}

/* cmd on every worker: sent to a thread, run at once on the main loop's. */
static void
command_all(struct workers *ws, unsigned cmd)
{
	for (size_t i = 0; i < ws->n; i++) {
		if (ws->w[i].threaded)
			send_cmd(&ws->w[i], cmd);
		else
			run_cmds(&ws->w[i], cmd);
	}
}

void
workers_drain(struct workers *ws)
{
	command_all(ws, CMD_DRAIN);
}

void
workers_close_all(struct workers *ws)
{
	command_all(ws, CMD_CLOSE_ALL);
}

/* Worker k's gauges: its own (one loop, or after the threads stopped), or
 * the copy it published. */
static void
gauges_of(struct workers *ws, struct worker *k, struct conn_gauges *g)
{
	if (!k->threaded || ws->joined) {
		conn_ctx_gauges(&k->ctx, g);
		return;
	}
	pthread_mutex_lock(&k->lock);
	*g = k->gauges;
	pthread_mutex_unlock(&k->lock);
}

int
workers_done(struct workers *ws)
{
	for (size_t i = 0; i < ws->n; i++) {
		struct worker *k = &ws->w[i];
		struct conn_gauges g;

		gauges_of(ws, k, &g);
		/* Published after the worker's last push, so an empty relay now
		 * means main has adopted every slab it pushed. */
		if (!g.stopping || g.conns > 0 || !g.sink_empty ||
		    (k->threaded && !relay_out_empty(&k->relay)))
			return 0;
	}
	return 1;
}

void
workers_view(struct workers *ws, double now, struct stats_view *v)
{
	const struct config *cfg = ws->cfg;
	static struct conn_gauges g;   /* main thread only; large for the stack */

	stats_view_counters(v, now);
	v->have_conns = 1;
	v->max_connections = cfg->max_connections;
	v->have_pool = 1;
	v->slab_size = cfg->pool.slab_size;
	v->nlisteners = cfg->nlisteners < STATS_MAX_LISTENERS ? cfg->nlisteners : STATS_MAX_LISTENERS;
	for (size_t i = 0; i < v->nlisteners; i++)
		v->listeners[i].name = cfg->listeners[i].name;
	v->nworkers = ws->n;
	for (size_t i = 0; i < ws->n; i++) {
		struct worker *k = &ws->w[i];

		gauges_of(ws, k, &g);
		/* The connection count from the atomic, not the copy: the copy is
		 * up to one loop iteration old, the atomic changes before a closed
		 * peer can see its close (conn.c). */
		g.conns = atomic_load_explicit(&k->assigned, memory_order_relaxed);
		conn_gauges_add(&g, now, v);
		v->workers[i].conns = g.conns;
		v->workers[i].records = stats_get_block(k->stats_block, STAT_records_out);
	}
	v->have_output = 1;
	v->output_pending = sink_pending(ws->out);
	v->output_failing = sink_failing(ws->out);
	v->output_stalled = sink_stalled_seconds(ws->out, now);
	v->output_reopened_at = sink_reopened_at(ws->out);
}

int
workers_beating(struct workers *ws, size_t *stuck)
{
	int all = 1;

	for (size_t i = 0; i < ws->n; i++) {
		struct worker *k = &ws->w[i];
		uint64_t b;

		if (!k->threaded)
			continue;
		b = atomic_load_explicit(&k->beats, memory_order_relaxed);
		if (b == ws->last_beats[i] && all) {
			all = 0;
			*stuck = i;
		}
		ws->last_beats[i] = b;
	}
	return all;
}

int
workers_stop(struct workers *ws, double timeout)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);   /* pthread_timedjoin_np's clock */
	deadline.tv_sec += (time_t)timeout + 1;
	for (size_t i = 0; i < ws->n; i++)
		if (ws->w[i].threaded)
			send_cmd(&ws->w[i], CMD_STOP);
	for (size_t i = 0; i < ws->n; i++)
		if (ws->w[i].threaded && pthread_timedjoin_np(ws->w[i].thread, NULL, &deadline) != 0)
			return -1;
	ws->joined = 1;
	/* The threads are gone: their state is main's to finish. */
	for (size_t i = 0; i < ws->n; i++) {
		struct worker *k = &ws->w[i];

		if (k->pool == NULL)
			continue;
		close_all(k);
		conn_ctx_reap(&k->ctx);
		if (k->threaded && k->relay.back.e != NULL)
			take_back_slabs(k);
	}
	return 0;
}

void
workers_free(struct workers *ws)
{
	if (ws == NULL)
		return;
	for (size_t i = 0; i < ws->n; i++) {
		struct worker *k = &ws->w[i];

		if (k->pool != NULL) {
			close_all(k);
			conn_ctx_reap(&k->ctx);
			ev_timer_stop(k->loop, &k->ctx.idle_sweep);
		}
		while (k->handoff_head != NULL) {
			struct handoff *h = k->handoff_head;

			k->handoff_head = h->next;
			close(h->fd);
			access_release(h->src);
			free(h);
		}
		if (k->loop != NULL && k->loop != ws->main_loop) {
			if (k->sink != NULL)
				sink_free(k->sink);
			ev_async_stop(k->loop, &k->wake);
			ev_prepare_stop(k->loop, &k->publish);
			ev_timer_stop(k->loop, &k->heartbeat);
			ev_loop_destroy(k->loop);
		}
		relay_clear(&k->relay);
		pthread_mutex_destroy(&k->lock);
	}
	/* After the workers' sinks; the writer leaves workers' slabs to their
	 * pools, freed below. */
	sink_free(ws->out);
	if (ws->n > 1)
		ev_async_stop(ws->main_loop, &ws->wake);
	for (size_t i = 0; i < ws->n; i++)
		pool_free(ws->w[i].pool);
	free(ws->w);
	free(ws);
}
