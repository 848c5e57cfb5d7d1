/*
 * Unit tests for stats (daemon/stats.c), in the shape of the source's last
 * challenge: several threads increment a counter a million times each
 * while another thread reads it, and the total is exactly their sum.
 *
 * Here each thread counts into its own block (stats_bind), as workers do,
 * so no increment is a read-modify-write on shared memory; the reader sums
 * the blocks.  Checked: the final total is exactly N x 1M; every snapshot
 * the reader took meanwhile is at least the one before it (monotonic) and
 * at most the final total; the blocks are cache-line aligned so writers
 * never share a line; stats_set/stats_reset for tests.  The same program
 * also runs under ThreadSanitizer (build/tsan/test_stats), which reports
 * any data race between the writers and the reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "stats.h"

#define WRITERS    4
#define INCREMENTS 1000000

static atomic_int writers_done;

static void *
writer(void *arg)
{
	size_t index = (size_t)(uintptr_t)arg;

	stats_bind(index);
	for (int i = 0; i < INCREMENTS; i++)
		STATS_INC(frames_in);
	STATS_ADD(bytes_in, 24 * (uint64_t)INCREMENTS);
	atomic_fetch_add(&writers_done, 1);
	return NULL;
}

struct reader_result {
	uint64_t snapshots, went_down, last;
};

static void *
reader(void *arg)
{
	struct reader_result *r = arg;
	uint64_t prev = 0;

	while (atomic_load(&writers_done) < WRITERS) {
		struct stats_snapshot s;

		stats_snapshot(&s);
		if (s.c[STAT_frames_in] < prev)
			r->went_down++;
		prev = s.c[STAT_frames_in];
		r->snapshots++;
	}
	r->last = prev;
	return NULL;
}

static void
test_threads_count_exactly(void **state)
{
	pthread_t w[WRITERS], rd;
	struct reader_result r = { 0, 0, 0 };

	(void)state;
	stats_reset();
	atomic_store(&writers_done, 0);
	assert_int_equal(pthread_create(&rd, NULL, reader, &r), 0);
	for (size_t i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, writer, (void *)(uintptr_t)(i + 1)), 0);
	for (size_t i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_join(w[i], NULL), 0);
	assert_int_equal(pthread_join(rd, NULL), 0);

	assert_int_equal(stats_get(STAT_frames_in), (uint64_t)WRITERS * INCREMENTS);
	assert_int_equal(stats_get(STAT_bytes_in), (uint64_t)WRITERS * INCREMENTS * 24);
	for (size_t i = 1; i <= WRITERS; i++)
		assert_int_equal(stats_get_block(i, STAT_frames_in), INCREMENTS);
	assert_int_equal(stats_get_block(0, STAT_frames_in), 0);  /* main's block untouched */
	assert_true(r.snapshots > 0);
	assert_int_equal(r.went_down, 0);
	assert_true(r.last <= (uint64_t)WRITERS * INCREMENTS);
}

static void
test_blocks_do_not_share_lines(void **state)
{
	(void)state;
	assert_int_equal(_Alignof(struct stats_block), 64);
	assert_int_equal(sizeof(struct stats_block) % 64, 0);
	assert_int_equal((uintptr_t)&stats_blocks[1] % 64, 0);
}

static void
test_set_and_reset(void **state)
{
	(void)state;
	stats_reset();
	stats_bind(3);
	STATS_ADD(records_out, 5);
	stats_bind(0);
	STATS_INC(records_out);
	assert_int_equal(stats_get(STAT_records_out), 6);
	stats_set(STAT_records_out, 42);   /* this thread's block gets it all */
	assert_int_equal(stats_get(STAT_records_out), 42);
	assert_int_equal(stats_get_block(3, STAT_records_out), 0);
	stats_reset();
	assert_int_equal(stats_get(STAT_records_out), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_count_exactly),
		cmocka_unit_test(test_blocks_do_not_share_lines),
		cmocka_unit_test(test_set_and_reset),
	};

	return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
