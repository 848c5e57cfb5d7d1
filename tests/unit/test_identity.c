/*
 * Unit tests for identity (daemon/identity.c): the number a certificate's
 * CN ends with, for tls_bind, and the frame check against it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "identity.h"
#include "schema.h"

static int
cn_number(const char *cn, uint64_t *id)
{
	return identity_from_cn(cn, strlen(cn), id);
}

static void
test_cn_numbers(void **state)
{
	uint64_t id = 7;

	(void)state;
	assert_int_equal(cn_number("sensor-0420", &id), 0);
	assert_int_equal(id, 420);
	assert_int_equal(cn_number("42", &id), 0);
	assert_int_equal(id, 42);
	assert_int_equal(cn_number("s-0000", &id), 0);
	assert_int_equal(id, 0);
	assert_int_equal(cn_number("dev18446744073709551615", &id), 0);
	assert_true(id == UINT64_MAX);
}

static void
test_cn_without_a_number(void **state)
{
	uint64_t id = 7;

	(void)state;
	assert_int_equal(cn_number("gateway", &id), -1);
	assert_int_equal(cn_number("", &id), -1);
	assert_int_equal(cn_number("sensor-42a", &id), -1);
	assert_int_equal(cn_number("dev18446744073709551616", &id), -1);   /* 2^64 */
	assert_int_equal(id, 7);   /* untouched on failure */
}

static void
test_frame_matches_its_sensor(void **state)
{
	const struct schema *s = schema_find("sensor24");
	const struct field *f = NULL;
	uint8_t frame[24] = { 0x00, 0x00, 0x01, 0xa4 };   /* sensorId 420 */

	(void)state;
	for (size_t i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i].name, "sensorId") == 0)
			f = &s->fields[i];
	assert_non_null(f);
	assert_true(identity_matches(f, frame, 420));
	assert_false(identity_matches(f, frame, 421));
	assert_false(identity_matches(f, frame, 420 + (1ull << 32)));  /* no truncation */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cn_numbers),
		cmocka_unit_test(test_cn_without_a_number),
		cmocka_unit_test(test_frame_matches_its_sensor),
	};

	return cmocka_run_group_tests_name("identity", tests, NULL, NULL);
}
