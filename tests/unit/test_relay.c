/*
 * relay: the rings between a worker and the writer, with a real producer
 * and consumer thread each (also run under ThreadSanitizer).
 *
 * A "worker" thread owns SLABS slabs; it hands them over one at a time,
 * each carrying its sequence number in `len`, and takes them back as the
 * "writer" thread returns them.  The writer must see every sequence number
 * once, in order, and every slab it gets must be one that is not also with
 * the worker (a slab has one owner at a time).
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "relay.h"

#define SLABS  8
#define ROUNDS 200000

static struct relay r;
static uint8_t slabs[SLABS][16];
static _Atomic int owner[SLABS];   /* 0: the worker's, 1: the writer's */
static _Atomic int writer_failed;

static void *
writer(void *arg)
{
	struct relay_slab s;
	size_t expect = 0;

	(void)arg;
	while (expect < ROUNDS) {
		if (!relay_pop(&r, &s)) {
			sched_yield();
			continue;
		}
		size_t k = (size_t)(s.slab - slabs[0]) / sizeof(slabs[0]);

		if (s.len != expect || s.off != 0 || k >= SLABS ||
		    atomic_load(&owner[k]) != 1 || s.slab[0] != (uint8_t)expect)
			atomic_store(&writer_failed, 1);
		expect++;
		atomic_store(&owner[k], 0);
		relay_return(&r, s.slab);
	}
	return NULL;
}

static void
test_order_and_ownership(void **state)
{
	struct ev_loop *wl = ev_loop_new(EVFLAG_AUTO), *kl = ev_loop_new(EVFLAG_AUTO);
	ev_async ww, kw;
	uint8_t *free_slabs[SLABS];
	size_t nfree = SLABS, back = 0;
	pthread_t t;

	(void)state;
	assert_non_null(wl);
	assert_non_null(kl);
	ev_async_init(&ww, NULL);
	ev_async_init(&kw, NULL);
	ev_async_start(wl, &ww);
	ev_async_start(kl, &kw);
	assert_int_equal(relay_init(&r, SLABS, wl, &ww, kl, &kw), 0);
	for (size_t i = 0; i < SLABS; i++)
		free_slabs[i] = slabs[i];
	assert_int_equal(pthread_create(&t, NULL, writer, NULL), 0);
	for (size_t seq = 0; seq < ROUNDS;) {
		uint8_t *b;

		while ((b = relay_take_back(&r)) != NULL) {
			free_slabs[nfree++] = b;
			back++;
		}
		if (nfree == 0) {
			sched_yield();
			continue;
		}
		b = free_slabs[--nfree];
		b[0] = (uint8_t)seq;   /* written before the push, read after the pop */
		atomic_store(&owner[(size_t)(b - slabs[0]) / sizeof(slabs[0])], 1);
		relay_push(&r, b, 0, seq);
		seq++;
	}
	pthread_join(t, NULL);
	while (relay_take_back(&r) != NULL)
		back++;
	assert_int_equal(back, ROUNDS);
	assert_false(atomic_load(&writer_failed));
	assert_true(relay_out_empty(&r));
	relay_clear(&r);
	ev_async_stop(wl, &ww);
	ev_async_stop(kl, &kw);
	ev_loop_destroy(wl);
	ev_loop_destroy(kl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_ownership),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
