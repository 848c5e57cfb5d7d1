/*
 * Unit tests for history (daemon/history.c): the status page's ring of one
 * sample a second, and status_json (daemon/status.c) drawing from it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "history.h"
#include "stats.h"
#include "status.h"

static struct history h;   /* ~30 KiB: not on the stack */

static void
view_at(struct stats_view *v, double now, uint64_t records, size_t in_use)
{
	memset(v, 0, sizeof(*v));
	v->now = now;
	v->counters.c[STAT_records_out] = records;
	v->counters.c[STAT_bad_type] = 2;
	v->counters.c[STAT_truncated] = 1;
	v->slabs_in_use = in_use;
	v->slabs = 256;
	v->nlisteners = 1;
	v->listeners[0].records = records;
}

static void
test_rates_between_samples(void **state)
{
	struct stats_view v;

	(void)state;
	history_init(&h);
	assert_int_equal(history_len(&h), 0);
	view_at(&v, 100.0, 50, 1);
	history_add(&h, &v);
	view_at(&v, 101.0, 1050, 3);
	history_add(&h, &v);
	view_at(&v, 103.0, 2050, 2);        /* a late sample: two seconds */
	history_add(&h, &v);
	assert_int_equal(history_len(&h), 3);
	assert_true(history_at(&h, 0)->records_per_s == 0.0);   /* the first has no interval */
	assert_true(history_at(&h, 1)->records_per_s == 1000.0);
	assert_true(history_at(&h, 2)->records_per_s == 500.0);
	assert_int_equal(history_at(&h, 2)->slabs_in_use, 2);
	assert_true(history_listener_rate(&h, 0) == 500.0);
	assert_true(history_listener_rate(&h, 1) == 0.0);       /* no such listener */
}

static void
test_a_view_no_newer_is_ignored(void **state)
{
	struct stats_view v;

	(void)state;
	history_init(&h);
	view_at(&v, 10.0, 5, 0);
	history_add(&h, &v);
	view_at(&v, 10.0, 9, 0);
	history_add(&h, &v);
	view_at(&v, 9.0, 9, 0);
	history_add(&h, &v);
	assert_int_equal(history_len(&h), 1);
	assert_int_equal(history_at(&h, 0)->records, 5);
}

static void
test_the_ring_keeps_the_newest(void **state)
{
	struct stats_view v;

	(void)state;
	history_init(&h);
	for (int i = 0; i < 3 * HISTORY_SAMPLES + 7; i++) {
		view_at(&v, (double)i, (uint64_t)i * 10, (size_t)i % 256);
		history_add(&h, &v);
		assert_true(history_len(&h) <= HISTORY_SAMPLES);
	}
	assert_int_equal(history_len(&h), HISTORY_SAMPLES);
	assert_true(history_at(&h, 0)->t == (double)(2 * HISTORY_SAMPLES + 7));
	assert_true(history_at(&h, HISTORY_SAMPLES - 1)->t == (double)(3 * HISTORY_SAMPLES + 6));
	for (size_t i = 1; i < HISTORY_SAMPLES; i++) {
		assert_true(history_at(&h, i)->t == history_at(&h, i - 1)->t + 1.0);
		assert_true(history_at(&h, i)->records_per_s == 10.0);
	}
	/* Bounded by its type: the ring is the struct, nothing is allocated. */
	assert_true(sizeof(struct history) < 40 * 1024);
}

static void
test_status_json_draws_the_history(void **state)
{
	static struct config cfg;
	struct stats_view v;
	json_error_t err;
	size_t len = 0;
	char *text;
	json_t *doc, *hist;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.nlisteners = 1;
	snprintf(cfg.listeners[0].name, sizeof(cfg.listeners[0].name), "sensors");
	snprintf(cfg.listeners[0].address, sizeof(cfg.listeners[0].address), "::1");
	cfg.listeners[0].port = 7001;
	/* A path need not be UTF-8; the document must still be JSON. */
	snprintf(cfg.output_path, sizeof(cfg.output_path), "/var/log/ingestd/r\xe9" "cords.jsonl");
	history_init(&h);
	view_at(&v, 50.0, 0, 0);
	history_add(&h, &v);
	view_at(&v, 51.001, 200, 4);        /* a timer a millisecond late: 199.8 rounds to 200 */
	history_add(&h, &v);
	v.now = 51.251;
	v.listeners[0].name = cfg.listeners[0].name;
	text = status_json(&cfg, &v, &h, 12.5, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	doc = json_loads(text, 0, &err);
	assert_non_null(doc);
	hist = json_object_get(doc, "history");
	assert_int_equal(json_array_size(json_object_get(hist, "age_s")), 2);
	assert_true(json_real_value(json_array_get(json_object_get(hist, "age_s"), 0)) == 1.25);
	assert_true(json_real_value(json_array_get(json_object_get(hist, "records_per_s"), 1)) ==
		    200.0);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(hist, "slabs_in_use"),
							   1)), 4);
	/* No bound address in the view: the configured one, IPv6 in brackets. */
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(doc, "listeners"), 0), "address")), "[::1]:7001");
	assert_true(json_is_null(json_object_get(json_object_get(doc, "output"),
						 "last_rotation_age_s")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "output"),
							      "path")), "/var/log/ingestd/r?cords.jsonl");
	json_decref(doc);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rates_between_samples),
		cmocka_unit_test(test_a_view_no_newer_is_ignored),
		cmocka_unit_test(test_the_ring_keeps_the_newest),
		cmocka_unit_test(test_status_json_draws_the_history),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
