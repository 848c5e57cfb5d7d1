/*
 * worker: how the [pool] totals are split between workers, and what
 * `workers = auto` resolves to (the threads themselves are tested by
 * tests/integration/test_workers.py, under ThreadSanitizer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "worker.h"

/* Every split of a pool: the shares add up to the totals (memory does not
 * grow with the worker count), and each share is a usable pool. */
static void
test_shares_add_up(void **state)
{
	static const struct pool_conf pools[] = {
		{ .slab_size = 131072, .slabs = 256, .overflow = 0, .reserve = 2,
		  .max_waiters = 64, .waiters_low = 16, .max_retained = 127 },
		{ .slab_size = 4096, .slabs = 17, .overflow = 5, .reserve = 1,
		  .max_waiters = 3, .waiters_low = 2, .max_retained = 8 },
		{ .slab_size = 65536, .slabs = 1000, .overflow = 64, .reserve = 7,
		  .max_waiters = 1, .waiters_low = 0, .max_retained = 1 },
	};

	(void)state;
	for (size_t p = 0; p < sizeof(pools) / sizeof(pools[0]); p++) {
		const struct pool_conf *t = &pools[p];
		size_t most = workers_max_for_pool(t);

		assert_true(most >= 1 && most <= WORKERS_MAX);
		for (size_t n = 1; n <= most; n++) {
			size_t slabs = 0, overflow = 0;

			for (size_t k = 0; k < n; k++) {
				struct pool_conf s;

				workers_pool_share(t, n, k, &s);
				slabs += s.slabs;
				overflow += s.overflow;
				assert_int_equal(s.slab_size, t->slab_size);
				assert_int_equal(s.reserve, t->reserve);
				assert_true(s.slabs >= t->reserve + 2);
				assert_true(s.max_retained >= 1);
				assert_true(s.max_retained <= s.slabs - s.reserve);
				assert_true(s.max_waiters >= 1);
				assert_true(s.waiters_low < s.max_waiters);
			}
			assert_int_equal(slabs, t->slabs);
			assert_int_equal(overflow, t->overflow);
		}
	}
}

static void
test_one_worker_is_the_whole_pool(void **state)
{
	struct pool_conf t = { .slab_size = 4096, .slabs = 9, .overflow = 3, .reserve = 2,
			       .max_waiters = 5, .waiters_low = 1, .max_retained = 3 }, s;

	(void)state;
	workers_pool_share(&t, 1, 0, &s);
	assert_memory_equal(&s, &t, sizeof(s));
}

static void
test_auto(void **state)
{
	struct pool_conf big = { .slab_size = 4096, .slabs = 1 << 20, .reserve = 2,
				 .max_waiters = 64, .waiters_low = 16 };
	struct pool_conf tiny = { .slab_size = 4096, .slabs = 7, .reserve = 2,
				  .max_waiters = 64, .waiters_low = 16 };

	(void)state;
	/* auto: one per CPU we may run on, at most 64 ... */
	assert_int_equal(workers_resolve(0, &big), workers_cpus());
	assert_true(workers_cpus() >= 1 && workers_cpus() <= WORKERS_MAX);
	/* ... and no more than the pool can give reserve + 2 slabs each. */
	assert_int_equal(workers_max_for_pool(&tiny), 1);
	assert_int_equal(workers_resolve(0, &tiny), 1);
	/* A number is taken as it is (config.c checks it against the pool). */
	assert_int_equal(workers_resolve(3, &big), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares_add_up),
		cmocka_unit_test(test_one_worker_is_the_whole_pool),
		cmocka_unit_test(test_auto),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
