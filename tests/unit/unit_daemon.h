/*
 * unit_daemon: the daemon's parts as main wires them (config text, a
 * conn_ctx, the pool, a sink writing a file in a temporary directory, one
 * listener on an ephemeral loopback port), for the unit tests of conn and
 * listener.  The listener is opened, not started: a test that wants
 * accepts calls listener_start().
 */
#ifndef INGESTD_UNIT_DAEMON_H
#define INGESTD_UNIT_DAEMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "listener.h"
#include "pool.h"
#include "record.h"
#include "sink.h"
#include "stats.h"

struct fixture {
	char             dir[64];
	char             out[128];
	struct config   *cfg;
	struct ev_loop  *loop;
	struct conn_ctx  ctx;
	struct listener  l;
	struct listener_hooks hooks;     /* accepted connections join ctx */
	uint16_t         port;           /* the listener's, as bound */
};

/* listener_hooks, as one worker on the test's loop. */
static int
fixture_take(void *arg, struct listener *l, int fd, const struct sockaddr *peer,
	     socklen_t peerlen, struct access_source *src)
{
	struct fixture *f = arg;

	return conn_new(&f->ctx, l, fd, peer, peerlen, src);
}

static size_t
fixture_open_conns(void *arg)
{
	return ((struct fixture *)arg)->ctx.nconns;
}

static void
fixture_pressure(void *arg, int paused)
{
	struct fixture *f = arg;

	listener_pause(&f->l, paused || f->ctx.stopping);
}

static struct record_layout fixture_layouts[4];
static size_t fixture_nlayouts;

static const struct record_layout *
fixture_layout_of(const struct schema *s)
{
	for (size_t i = 0; i < fixture_nlayouts; i++)
		if (fixture_layouts[i].schema == s)
			return &fixture_layouts[i];
	assert_true(fixture_nlayouts < 4);
	assert_int_equal(record_layout_init(&fixture_layouts[fixture_nlayouts], s), 0);
	return &fixture_layouts[fixture_nlayouts++];
}

/* config_text: INI text after the [output] section the fixture writes (so
 * it must not have one); it names exactly one listener. */
static struct fixture *
fixture_new_from(const char *config_text, double idle_timeout)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char text[2048], err[512];

	assert_non_null(f);
	stats_reset();
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_unit.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->out, sizeof(f->out), "%s/out.jsonl", f->dir);
	snprintf(text, sizeof(text), "[output]\npath = %s\n%s", f->out, config_text);
	f->cfg = calloc(1, sizeof(*f->cfg));
	assert_non_null(f->cfg);
	if (config_load_text(f->cfg, text, "test", err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(f->loop);
	f->ctx.loop = f->loop;
	conn_ctx_init(&f->ctx);
	f->ctx.metadata = f->cfg->metadata;
	f->ctx.max_connections = f->cfg->max_connections;
	f->ctx.max_retained = f->cfg->pool.max_retained;
	f->ctx.idle_timeout = idle_timeout;
	f->ctx.nlisteners = 1;
	f->ctx.on_pressure = fixture_pressure;
	f->ctx.hook_arg = f;
	f->hooks = (struct listener_hooks){ fixture_take, fixture_open_conns,
					    f->cfg->max_connections, f };
	f->ctx.pool = pool_new(&f->cfg->pool, conn_ctx_pressure, &f->ctx);
	assert_non_null(f->ctx.pool);
	f->ctx.sink = sink_new(f->loop, f->ctx.pool, f->out, NULL, NULL, err, sizeof(err));
	assert_non_null(f->ctx.sink);
	if (listener_open(&f->l, &f->cfg->listeners[0], 0, f->loop, &f->hooks, fixture_layout_of,
			  err, sizeof(err)) != 0)
		fail_msg("listener: %s", err);
	f->port = (uint16_t)atoi(strrchr(f->l.bound, ':') + 1);
	conn_ctx_start_idle_sweep(&f->ctx);
	return f;
}

/* Closes everything and checks that a stop leaves nothing behind. */
static void
fixture_free(struct fixture *f)
{
	struct pool_stats ps;
	char cmd[160];

	conn_ctx_close_all(&f->ctx);
	conn_ctx_reap(&f->ctx);
	assert_int_equal(f->ctx.nconns, 0);
	assert_int_equal(f->ctx.read_slabs, 0);
	assert_int_equal(f->ctx.retained_bytes, 0);
	assert_int_equal(f->ctx.retained_slabs, 0);
	pool_get_stats(f->ctx.pool, &ps);
	assert_int_equal(ps.waiters, 0);
	assert_int_equal(ps.refused_releases, 0);
	ev_timer_stop(f->loop, &f->ctx.idle_sweep);
	ev_timer_stop(f->loop, &f->ctx.drain_sweep);
	listener_release(&f->l);
	listener_release(&f->l);   /* idempotent */
	sink_free(f->ctx.sink);
	pool_get_stats(f->ctx.pool, &ps);
	assert_int_equal(ps.in_use, 0);
	pool_free(f->ctx.pool);
	ev_loop_destroy(f->loop);
	for (size_t i = 0; i < fixture_nlayouts; i++)
		record_layout_clear(&fixture_layouts[i]);
	fixture_nlayouts = 0;
	free(f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
}

#endif
