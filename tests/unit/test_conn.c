/*
 * Unit tests for conn (daemon/conn.c) on a real libev loop: each
 * connection is one end of a socketpair, the test writes the peer's bytes
 * into the other end, and records go through a real sink into a file.
 * The listener comes from config text through listener_open() (an
 * ephemeral loopback port nobody connects to), so the connections borrow
 * exactly what the daemon's do.
 *
 * Covers: frames in random splits become records in order; a silent peer
 * is closed at idle_timeout and not just before it; a slowloris that is
 * not the oldest connection is closed while an active older one stays (the
 * activity list's move to the front); a connection waiting for output room
 * or held by a pause is never idle-closed, and loses nothing; a connection
 * that closes while queued for a read slab leaves the pool's queue, and
 * one queued for output room leaves the sink's (no call into freed memory:
 * ASan); the retained-slab cap may close the very
 * connection that called it; the shutdown drain reads everything a peer
 * sent before its end of stream.  Every test ends with nothing left: no
 * connection, no read slab, no waiter, no retained bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "conn.h"
#include "listener.h"
#include "pool.h"
#include "record.h"
#include "schema.h"
#include "sink.h"
#include "stats.h"
#include "unit_daemon.h"
#include "unit_loop.h"

static struct fixture *
fixture_new(const char *listener_text, const char *pool_text, double idle_timeout)
{
	char text[1024];

	snprintf(text, sizeof(text), "[pool]\n%s\n%s", pool_text ? pool_text : "",
		 listener_text);
	return fixture_new_from(text, idle_timeout);
}

/* A new connection on one end of a socketpair; returns the peer's end. */
static int
connect_peer(struct fixture *f)
{
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(40000) };
	int sv[2];

	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(conn_new(&f->ctx, &f->l, sv[0], (struct sockaddr *)&peer, sizeof(peer), NULL), 0);
	return sv[1];
}

/* The sensor24 packet for connection id, sequence k (big-endian). */
static void
sensor24(uint8_t *p, uint32_t id, uint32_t k)
{
	double ts = (double)k;
	uint64_t bits;

	memset(p, 0, 24);
	p[0] = (uint8_t)(id >> 24); p[1] = (uint8_t)(id >> 16);
	p[2] = (uint8_t)(id >> 8);  p[3] = (uint8_t)id;
	memcpy(&bits, &ts, 8);
	for (int i = 0; i < 8; i++)
		p[4 + i] = (uint8_t)(bits >> (56 - 8 * i));
}

static void
send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

static int
run_until(struct fixture *f, int (*cond)(struct fixture *, void *), void *arg, double seconds)
{
	double end = clock_mono() + seconds;

	while (!cond(f, arg)) {
		if (clock_mono() > end)
			return 0;
		ev_run(f->loop, EVRUN_NOWAIT);
		usleep(500);
	}
	return 1;
}

/* 1 once the daemon closed its end (EOF on the peer's). */
static int
peer_closed(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int
cond_peer_closed(struct fixture *f, void *arg)
{
	(void)f;
	return peer_closed(*(int *)arg);
}

static size_t
lines_in(const char *path)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;
	int c;

	if (fp == NULL)
		return 0;
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

static int
cond_lines(struct fixture *f, void *arg)
{
	return lines_in(f->out) >= *(size_t *)arg;
}

static int
cond_no_conns(struct fixture *f, void *arg)
{
	(void)arg;
	return f->ctx.nconns == 0 && sink_empty(f->ctx.sink);
}

#define FIXED_LISTENER \
	"[listener s]\naddress = 127.0.0.1\nport = 0\nframing = fixed\nschema = sensor24\n"
#define TLV_LISTENER \
	"[listener t]\naddress = 127.0.0.1\nport = 0\nframing = tlv\ntype.1 = sensor24\n"

static void
test_random_splits_in_order(void **state)
{
	struct fixture *f = fixture_new(FIXED_LISTENER, NULL, 0);
	enum { N = 5000 };
	static uint8_t buf[N * 24];
	size_t want = N, pos = 0;
	int fd = connect_peer(f);
	FILE *fp;
	char line[512];
	unsigned k = 0;

	(void)state;
	srand(7);
	for (unsigned i = 0; i < N; i++)
		sensor24(buf + i * 24, 3, i);
	while (pos < sizeof(buf)) {
		size_t n = 1 + (size_t)rand() % 700;

		if (n > sizeof(buf) - pos)
			n = sizeof(buf) - pos;
		send_all(fd, buf + pos, n);
		pos += n;
		ev_run(f->loop, EVRUN_NOWAIT);
	}
	assert_true(run_until(f, cond_lines, &want, 10));
	fp = fopen(f->out, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		char expect[64];

		snprintf(expect, sizeof(expect), "{\"sensorId\":3,\"timestamp\":%u,", k++);
		assert_memory_equal(line, expect, strlen(expect));
		assert_non_null(strstr(line, ",\"_listener\":\"s\""));  /* metadata: shipped default */
	}
	fclose(fp);
	assert_int_equal(k, N);
	close(fd);
	fixture_free(f);
}

static void
test_idle_boundary(void **state)
{
	struct fixture *f = fixture_new(FIXED_LISTENER, NULL, 0.4);
	int fd = connect_peer(f);
	double start = clock_mono();

	(void)state;
	loop_run_for(f->loop, 0.3);                       /* just under: still open */
	assert_false(peer_closed(fd));
	assert_true(run_until(f, cond_peer_closed, &fd, 1.0));
	assert_true(clock_mono() - start >= 0.4);
	assert_int_equal(stats_get(STAT_idle_closed), 1);
	close(fd);
	fixture_free(f);
}

/* The slowloris connects second and never completes a frame; the older
 * connection completes one every 0.1 s.  Only the slowloris goes. */
static void
test_slowloris_not_the_oldest(void **state)
{
	struct fixture *f = fixture_new(FIXED_LISTENER, NULL, 0.4);
	int active = connect_peer(f), slow = connect_peer(f);
	uint8_t pkt[24];
	double start = clock_mono();
	unsigned k = 0;

	(void)state;
	sensor24(pkt, 1, 0);
	while (clock_mono() - start < 1.2) {
		sensor24(pkt, 1, k++);
		send_all(active, pkt, 24);
		if (k < 20)  /* a byte at a time, never a frame; closed meanwhile */
			(void)send(slow, pkt, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		loop_run_for(f->loop, 0.1);
	}
	assert_true(peer_closed(slow));
	assert_false(peer_closed(active));
	assert_int_equal(stats_get(STAT_idle_closed), 1);
	close(active);
	close(slow);
	fixture_free(f);
}

static int
cond_output_waiting(struct fixture *f, void *arg)
{
	(void)arg;
	return sink_waiting(f->ctx.sink) > 0;
}

/* The output cannot grow (RLIMIT_FSIZE) for 4 x idle_timeout: the
 * connection waits for room, is not closed, and loses nothing. */
static void
test_waiting_for_output_is_not_idle(void **state)
{
	struct fixture *f = fixture_new(FIXED_LISTENER,
					"slab_size = 4096\nslabs = 8\nreserve = 1\nmax_retained = 1\n",
					0.3);
	enum { N = 2000 };
	static uint8_t buf[N * 24];
	struct rlimit rl = { 0, RLIM_INFINITY };
	size_t want = N;
	int fd = connect_peer(f);

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	for (unsigned i = 0; i < N; i++)
		sensor24(buf + i * 24, 5, i);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	send_all(fd, buf, sizeof(buf));
	assert_true(run_until(f, cond_output_waiting, NULL, 5));
	loop_run_for(f->loop, 1.2);
	assert_false(peer_closed(fd));
	assert_int_equal(stats_get(STAT_idle_closed), 0);
	rl.rlim_cur = RLIM_INFINITY;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	assert_true(run_until(f, cond_lines, &want, 10));
	assert_int_equal(lines_in(f->out), N);
	close(fd);
	fixture_free(f);
}

/* A pause longer than idle_timeout is ingestd's doing: the idle clock
 * restarts when it ends. */
static void
test_pause_is_not_idle(void **state)
{
	struct fixture *f = fixture_new(FIXED_LISTENER, NULL, 0.3);
	int fd = connect_peer(f);

	(void)state;
	conn_ctx_pressure(&f->ctx, 1);
	loop_run_for(f->loop, 0.8);
	assert_false(peer_closed(fd));
	conn_ctx_pressure(&f->ctx, 0);
	loop_run_for(f->loop, 0.15);
	assert_false(peer_closed(fd));     /* the clock restarted */
	assert_true(run_until(f, cond_peer_closed, &fd, 1.0));
	close(fd);
	fixture_free(f);
}

/* Queued for a read slab, then closed: the pool must forget the waiter,
 * or the next release grants a slab to freed memory. */
static void
test_close_while_waiting_for_a_read_slab(void **state)
{
	struct fixture *f = fixture_new(FIXED_LISTENER,
					"slab_size = 4096\nslabs = 4\nreserve = 1\nmax_retained = 1\n",
					0);
	void *held[5];
	size_t nheld = 0;
	uint8_t pkt[24];
	struct pool_stats ps;
	int fd = connect_peer(f);

	(void)state;
	while ((held[nheld] = pool_checkout(f->ctx.pool, POOL_OUTPUT)) != NULL)
		nheld++;
	sensor24(pkt, 9, 0);
	send_all(fd, pkt, 24);
	loop_run_for(f->loop, 0.05);
	pool_get_stats(f->ctx.pool, &ps);
	assert_int_equal(ps.waiters, 1);
	conn_ctx_close_all(&f->ctx);
	conn_ctx_reap(&f->ctx);            /* freed now */
	pool_get_stats(f->ctx.pool, &ps);
	assert_int_equal(ps.waiters, 0);
	while (nheld > 0)
		pool_give_back(f->ctx.pool, held[--nheld]);   /* no grant to anyone */
	assert_true(peer_closed(fd));
	close(fd);
	fixture_free(f);
}

/* Queued at the sink for output room, then closed: the sink must forget
 * the waiter, or room coming back calls into freed memory. */
static void
test_close_while_waiting_for_output(void **state)
{
	struct fixture *f = fixture_new(FIXED_LISTENER,
					"slab_size = 4096\nslabs = 8\nreserve = 1\nmax_retained = 1\n",
					0);
	enum { N = 2000 };
	static uint8_t buf[N * 24];
	struct rlimit rl = { 0, RLIM_INFINITY };
	size_t want = 1;
	int fd = connect_peer(f), other;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	for (unsigned i = 0; i < N; i++)
		sensor24(buf + i * 24, 5, i);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	send_all(fd, buf, sizeof(buf));
	assert_true(run_until(f, cond_output_waiting, NULL, 5));
	conn_ctx_close_all(&f->ctx);
	conn_ctx_reap(&f->ctx);             /* freed now */
	assert_int_equal(sink_waiting(f->ctx.sink), 0);
	rl.rlim_cur = RLIM_INFINITY;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	/* Room comes back, and a new connection goes on writing. */
	other = connect_peer(f);
	send_all(other, buf, 24);
	assert_true(run_until(f, cond_lines, &want, 5));
	close(fd);
	close(other);
	fixture_free(f);
}

/* The retained-slab cap (0 here, below what the config allows) closes the
 * connection that just kept a slab: its own callback must survive that. */
static void
test_retained_cap_closes_the_caller(void **state)
{
	struct fixture *f = fixture_new(TLV_LISTENER, NULL, 0);
	uint8_t big[3 + 600];
	int fd = connect_peer(f);

	(void)state;
	f->ctx.max_retained = 0;
	memset(big, 'v', sizeof(big));
	big[0] = 9;                         /* raw type, 1000-byte value */
	big[1] = 1000 >> 8;
	big[2] = 1000 & 0xff;
	send_all(fd, big, sizeof(big));     /* 600 of 1000: more than the carry */
	assert_true(run_until(f, cond_peer_closed, &fd, 2));
	assert_int_equal(stats_get(STAT_retained_evictions), 1);
	assert_int_equal(f->ctx.nconns, 0);
	close(fd);
	fixture_free(f);
}

/* Shutdown: what the peer sent before its end of stream is all written. */
static void
test_drain_reads_to_the_end(void **state)
{
	struct fixture *f = fixture_new(FIXED_LISTENER, NULL, 0);
	enum { N = 20000 };
	static uint8_t buf[N * 24];
	int fds[4];

	(void)state;
	for (int c = 0; c < 4; c++)
		fds[c] = connect_peer(f);
	for (unsigned i = 0; i < N; i++)
		sensor24(buf + i * 24, 1, i);
	/* The socketpair's buffers take only part: a writer thread would be
	 * needed for more, so each peer sends what fits, then half-closes. */
	for (int c = 0; c < 4; c++) {
		ssize_t w = send(fds[c], buf, 4096 * 24, MSG_DONTWAIT);

		assert_true(w > 0);
		assert_int_equal(w % 24, 0);
		shutdown(fds[c], SHUT_WR);
	}
	f->ctx.stopping = 1;
	conn_ctx_drain_all(&f->ctx);
	assert_true(run_until(f, cond_no_conns, NULL, 10));
	assert_int_equal(stats_get(STAT_frames_in), lines_in(f->out));
	assert_int_equal(stats_get(STAT_bytes_in), stats_get(STAT_frames_in) * 24);
	assert_int_equal(stats_get(STAT_truncated), 0);
	for (int c = 0; c < 4; c++)
		close(fds[c]);
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_splits_in_order),
		cmocka_unit_test(test_idle_boundary),
		cmocka_unit_test(test_slowloris_not_the_oldest),
		cmocka_unit_test(test_waiting_for_output_is_not_idle),
		cmocka_unit_test(test_pause_is_not_idle),
		cmocka_unit_test(test_close_while_waiting_for_a_read_slab),
		cmocka_unit_test(test_close_while_waiting_for_output),
		cmocka_unit_test(test_retained_cap_closes_the_caller),
		cmocka_unit_test(test_drain_reads_to_the_end),
	};

	signal(SIGPIPE, SIG_IGN);  /* as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
