/*
 * Unit tests for sink (daemon/sink.c) on a real libev loop, with real
 * files and FIFOs in a temporary directory.
 *
 * Covers: records come out whole and in order; a short write followed by
 * a failing one (RLIMIT_FSIZE: the write that crosses the limit is cut
 * short, the next fails with EFBIG) leaves the file cut back to its last
 * whole line, and once the limit is lifted every record is there exactly
 * once; a rotation (rename + sink_reopen) while writes fail leaves both
 * files ending in a newline and every record in exactly one of them; a
 * FIFO path with no reader does not block sink_new and is written once a
 * reader comes; a FIFO reader that stops reading makes the output stall
 * (sink_stalled_seconds grows) without blocking the loop; a FIFO reader
 * that leaves mid-line gets the line again, whole, for the next reader;
 * writers waiting for room are called back from the loop, in order, never
 * from inside the pool's release; the sink gives its slab back once
 * everything is written (nothing held while idle).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "pool.h"
#include "sink.h"
#include "stats.h"

#define SLAB    4096
#define RECLEN  100   /* every test record is this long, newline included */

struct fixture {
	char            dir[64];
	char            path[128];
	struct ev_loop *loop;
	struct pool    *pool;
	struct sink    *sink;
};

static struct fixture *
fixture_new(size_t slabs, int fifo)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct pool_conf pc = { .slab_size = SLAB, .slabs = slabs, .reserve = 1,
				.max_waiters = 100, .waiters_low = 0 };

	assert_non_null(f);
	stats_reset();
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_sink.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/out", f->dir);
	if (fifo)
		assert_int_equal(mkfifo(f->path, 0600), 0);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(f->loop);
	f->pool = pool_new(&pc, NULL, NULL);
	assert_non_null(f->pool);
	return f;
}

static void
open_sink(struct fixture *f)
{
	char err[256];

	f->sink = sink_new(f->loop, f->pool, f->path, NULL, NULL, err, sizeof(err));
	assert_non_null(f->sink);
}

static void
fixture_free(struct fixture *f)
{
	struct pool_stats ps;
	char cmd[160];

	sink_free(f->sink);
	pool_get_stats(f->pool, &ps);
	assert_int_equal(ps.in_use, 0);
	assert_int_equal(ps.refused_releases, 0);
	pool_free(f->pool);
	ev_loop_destroy(f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
}

/* Commits record number n: `{"n":NNNNNNNN,"pad":"xxx...x"}\n`, RECLEN bytes.
 * Returns 0, or -1 when the sink had no room. */
static int
put_record(struct sink *s, unsigned n)
{
	char *room = sink_reserve(s, RECLEN);
	int len;

	if (room == NULL)
		return -1;
	len = snprintf(room, RECLEN + 1, "{\"n\":%08u,\"pad\":\"", n);
	memset(room + len, 'x', RECLEN - 3 - (size_t)len);
	memcpy(room + RECLEN - 3, "\"}\n", 3);
	sink_commit(s, RECLEN, 1);
	return 0;
}

/* Runs loop iterations until cond(f) or `seconds` pass. */
static int
run_until(struct fixture *f, int (*cond)(struct fixture *), double seconds)
{
	double end = clock_mono() + seconds;

	while (!cond(f)) {
		if (clock_mono() > end)
			return 0;
		ev_run(f->loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	return 1;
}

static int
sink_done(struct fixture *f)
{
	return sink_empty(f->sink);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

/* Checks that buf holds whole records only, numbered from *next on, and
 * advances *next past them. */
static void
check_records(const char *buf, size_t len, unsigned *next)
{
	assert_int_equal(len % RECLEN, 0);
	for (size_t off = 0; off < len; off += RECLEN) {
		unsigned n;

		assert_int_equal(sscanf(buf + off, "{\"n\":%u,", &n), 1);
		assert_int_equal(n, *next);
		assert_int_equal(buf[off + RECLEN - 1], '\n');
		(*next)++;
	}
}

static void
test_records_in_order(void **state)
{
	struct fixture *f = fixture_new(8, 0);
	unsigned next = 0;
	size_t len;
	char *buf;

	(void)state;
	open_sink(f);
	for (unsigned i = 0; i < 1000; i++)
		while (put_record(f->sink, i) < 0)
			ev_run(f->loop, EVRUN_NOWAIT);
	assert_true(run_until(f, sink_done, 5));
	ev_run(f->loop, EVRUN_NOWAIT);  /* the flush that finds it empty */
	buf = slurp(f->path, &len);
	check_records(buf, len, &next);
	assert_int_equal(next, 1000);
	free(buf);
	/* Idle: the output slab went back to the pool. */
	struct pool_stats ps;
	pool_get_stats(f->pool, &ps);
	assert_int_equal(ps.in_use, 0);
	fixture_free(f);
}

static void
set_fsize(rlim_t n)
{
	struct rlimit rl = { n, RLIM_INFINITY };

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static int
sink_is_failing(struct fixture *f)
{
	return sink_failing(f->sink);
}

static int
sink_not_failing_and_done(struct fixture *f)
{
	return !sink_failing(f->sink) && sink_empty(f->sink);
}

/* 40 records (4,000 bytes) against a 2,550-byte limit: the write stops
 * inside record 25, and the next one fails (EFBIG). */
static void
fail_inside_record_25(struct fixture *f)
{
	signal(SIGXFSZ, SIG_IGN);
	open_sink(f);
	set_fsize(2550);
	for (unsigned i = 0; i < 40; i++)
		assert_int_equal(put_record(f->sink, i), 0);
	sink_flush(f->sink);
	assert_true(sink_failing(f->sink));
}

/* The file must be cut back to 2,500 bytes: 25 whole records. */
static void
test_short_write_is_cut_back_to_a_line(void **state)
{
	struct fixture *f = fixture_new(8, 0);
	unsigned next = 0;
	size_t len;
	char *buf;

	(void)state;
	fail_inside_record_25(f);
	buf = slurp(f->path, &len);
	assert_int_equal(len, 2500);
	check_records(buf, len, &next);
	free(buf);
	assert_int_equal(stats_get(STAT_output_rewinds), 1);
	assert_true(sink_stalled_seconds(f->sink, clock_mono() + 5) >= 4.9);

	set_fsize(RLIM_INFINITY);
	assert_true(run_until(f, sink_not_failing_and_done, 5));
	buf = slurp(f->path, &len);
	next = 0;
	check_records(buf, len, &next);
	assert_int_equal(next, 40);
	free(buf);
	assert_int_equal(sink_stalled_seconds(f->sink, clock_mono()), 0);
	fixture_free(f);
}

/* The same failure, then a rotation: no record spans the two files. */
static void
test_reopen_while_failing_keeps_lines_whole(void **state)
{
	struct fixture *f = fixture_new(8, 0);
	char old[160];
	unsigned next = 0;
	size_t len;
	char *buf;

	(void)state;
	fail_inside_record_25(f);
	snprintf(old, sizeof(old), "%s.1", f->path);
	assert_int_equal(rename(f->path, old), 0);
	/* The old file still cannot grow; the new one can take 1,050 bytes. */
	assert_int_equal(sink_reopen(f->sink), 0);
	ev_run(f->loop, EVRUN_NOWAIT);
	buf = slurp(old, &len);
	check_records(buf, len, &next);
	free(buf);
	assert_int_equal(next, 25);
	set_fsize(RLIM_INFINITY);
	assert_true(run_until(f, sink_not_failing_and_done, 5));
	buf = slurp(f->path, &len);
	check_records(buf, len, &next);
	free(buf);
	assert_int_equal(next, 40);
	fixture_free(f);
}

static int
sink_waits_for_room(struct fixture *f)
{
	return sink_failing(f->sink) || sink_stalled_seconds(f->sink, clock_mono()) > 0.2;
}

/* A FIFO with no reader: sink_new returns at once; a reader that comes
 * later gets every record. */
static void
test_fifo_without_reader(void **state)
{
	struct fixture *f = fixture_new(8, 1);
	unsigned next = 0;
	char buf[RECLEN * 10];
	size_t got = 0;
	int rfd;

	(void)state;
	open_sink(f);   /* would block in open() without O_NONBLOCK */
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(put_record(f->sink, i), 0);
	assert_true(run_until(f, sink_waits_for_room, 3));
	assert_false(sink_empty(f->sink));
	rfd = open(f->path, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	assert_true(run_until(f, sink_done, 5));   /* the retry opens it */
	while (got < sizeof(buf)) {
		ssize_t n = read(rfd, buf + got, sizeof(buf) - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	check_records(buf, got, &next);
	assert_int_equal(next, 10);
	close(rfd);
	fixture_free(f);
}

static int
stalled_half_second(struct fixture *f)
{
	return sink_stalled_seconds(f->sink, clock_mono()) > 0.5;
}

/*
 * A reader that stops: the loop keeps running (EAGAIN, not a blocked
 * write) and the stall is measured.  Then the reader leaves in the middle
 * of a line (the pipe holds 4,096 bytes: record 40 is cut): the next
 * reader starts with that record, whole.
 */
static void
test_fifo_reader_stops_then_leaves_mid_line(void **state)
{
	struct fixture *f = fixture_new(16, 1);
	unsigned next = 0, i;
	char buf[SLAB * 8];
	size_t got = 0;
	int rfd;

	(void)state;
	signal(SIGPIPE, SIG_IGN);  /* as the daemon does: EPIPE is handled */
	rfd = open(f->path, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	open_sink(f);
	assert_int_equal(fcntl(rfd, F_SETPIPE_SZ, 4096), 4096);
	for (i = 0; i < 200; i++)
		assert_int_equal(put_record(f->sink, i), 0);
	assert_true(run_until(f, stalled_half_second, 3));
	/* 40 whole records and 96 bytes of the 41st are in the pipe. */
	assert_int_equal(read(rfd, buf, sizeof(buf)), 4096);
	check_records(buf, 4000, &next);
	assert_int_equal(next, 40);
	close(rfd);                       /* leaves mid-line */
	assert_true(run_until(f, sink_is_failing, 3));
	rfd = open(f->path, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	assert_int_equal(fcntl(rfd, F_SETPIPE_SZ, 65536), 65536);
	assert_true(run_until(f, sink_done, 5));
	for (;;) {
		ssize_t n = read(rfd, buf + got, sizeof(buf) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	check_records(buf, got, &next);   /* starts at record 40, whole */
	assert_int_equal(next, 200);
	close(rfd);
	fixture_free(f);
}

struct room_waiter {
	struct sink_waiter w;
	int                called;
	int                order;
};

static int order_counter;
static struct fixture *room_fixture;

static void
on_room(struct sink_waiter *w)
{
	struct room_waiter *rw = (struct room_waiter *)(void *)w;

	rw->called++;
	rw->order = ++order_counter;
	/* Called from the loop: the sink may be used right here. */
	assert_int_equal(put_record(room_fixture->sink, 999), 0);
}

static struct room_waiter *room_last;   /* the waiter b_called() watches */

static int
b_called(struct fixture *f)
{
	(void)f;
	return room_last->called > 0;
}

/* Fills every slab of f's pool with records the output cannot take yet:
 * the first write is short, the rest fail.  Returns the records put. */
static unsigned
fill_every_slab(struct fixture *f)
{
	unsigned i = 0;

	room_fixture = f;
	order_counter = 0;
	open_sink(f);
	set_fsize(100 * RECLEN);
	signal(SIGXFSZ, SIG_IGN);
	while (put_record(f->sink, i) == 0)
		i++;
	return i;
}

/* Two slabs, both filled: writers queue, and are called back in order from
 * the loop once the output has taken the data and given the slabs back. */
static void
test_waiters_called_back_in_order(void **state)
{
	struct fixture *f = fixture_new(2, 0);
	struct room_waiter a = { .w.room = on_room }, b = { .w.room = on_room };
	unsigned i;

	(void)state;
	room_last = &b;
	i = fill_every_slab(f);
	assert_true(i >= SLAB / RECLEN);
	sink_wait(f->sink, &a.w);
	sink_wait(f->sink, &b.w);
	sink_wait(f->sink, &a.w);          /* already queued: no-op */
	assert_int_equal(sink_waiting(f->sink), 2);
	sink_flush(f->sink);               /* no callback from in here */
	assert_int_equal(a.called + b.called, 0);
	set_fsize(RLIM_INFINITY);
	assert_true(run_until(f, b_called, 5));
	assert_int_equal(a.called, 1);
	assert_int_equal(b.called, 1);
	assert_true(a.order < b.order);
	assert_int_equal(sink_waiting(f->sink), 0);
	assert_true(run_until(f, sink_done, 5));
	fixture_free(f);
}

/* A waiter that goes away (its connection closed) is never called. */
static void
test_cancelled_waiter_not_called(void **state)
{
	struct fixture *f = fixture_new(2, 0);
	struct room_waiter a = { .w.room = on_room }, b = { .w.room = on_room };

	(void)state;
	room_last = &b;
	assert_true(fill_every_slab(f) >= SLAB / RECLEN);
	sink_wait(f->sink, &a.w);
	sink_wait(f->sink, &b.w);
	sink_cancel(f->sink, &a.w);
	sink_cancel(f->sink, &a.w);        /* not queued: no-op */
	assert_int_equal(sink_waiting(f->sink), 1);
	set_fsize(RLIM_INFINITY);
	assert_true(run_until(f, b_called, 5));
	assert_int_equal(a.called, 0);
	assert_int_equal(b.called, 1);
	assert_true(run_until(f, sink_done, 5));
	fixture_free(f);
}

/* Cancelling in the middle and at the tail keeps the queue whole: the
 * waiter queued after them is still called, after the head. */
static void
test_cancel_middle_and_tail(void **state)
{
	struct fixture *f = fixture_new(2, 0);
	struct room_waiter a = { .w.room = on_room }, b = { .w.room = on_room },
			   c = { .w.room = on_room }, d = { .w.room = on_room };

	(void)state;
	room_last = &d;
	assert_true(fill_every_slab(f) >= SLAB / RECLEN);
	sink_wait(f->sink, &a.w);
	sink_wait(f->sink, &b.w);
	sink_wait(f->sink, &c.w);
	sink_cancel(f->sink, &b.w);        /* middle */
	sink_cancel(f->sink, &c.w);        /* tail */
	sink_wait(f->sink, &d.w);          /* appended after a */
	assert_int_equal(sink_waiting(f->sink), 2);
	set_fsize(RLIM_INFINITY);
	assert_true(run_until(f, b_called, 5));
	assert_int_equal(a.called, 1);
	assert_int_equal(b.called + c.called, 0);
	assert_true(a.order < d.order);
	assert_true(run_until(f, sink_done, 5));
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_in_order),
		cmocka_unit_test(test_short_write_is_cut_back_to_a_line),
		cmocka_unit_test(test_reopen_while_failing_keeps_lines_whole),
		cmocka_unit_test(test_fifo_without_reader),
		cmocka_unit_test(test_fifo_reader_stops_then_leaves_mid_line),
		cmocka_unit_test(test_waiters_called_back_in_order),
		cmocka_unit_test(test_cancelled_waiter_not_called),
		cmocka_unit_test(test_cancel_middle_and_tail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
