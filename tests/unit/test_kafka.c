/*
 * Unit tests for kafka (daemon/kafka.c): kafka_key_of(), the message key
 * taken from a record line.  The producer itself is tested against a mock
 * cluster (tests/integration/test_kafka.py).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "kafka.h"

static int
key(const char *line, const char *name, char *out)
{
	const char *k;
	size_t n;

	if (!kafka_key_of(line, strlen(line), name, strlen(name), &k, &n))
		return 0;
	memcpy(out, k, n);
	out[n] = '\0';
	return 1;
}

static void
test_field_values(void **state)
{
	const char *rec = "{\"sensorId\":420,\"timestamp\":1.5,\"name\":\"a,b\\\"c\","
			  "\"_peer\":\"10.0.0.1:4000\"}";
	char out[64];

	(void)state;
	assert_true(key(rec, "sensorId", out));
	assert_string_equal(out, "420");
	assert_true(key(rec, "timestamp", out));
	assert_string_equal(out, "1.5");
	assert_true(key(rec, "name", out));
	assert_string_equal(out, "a,b\\\"c");   /* as written: escapes kept */
	assert_true(key(rec, "_peer", out));
	assert_string_equal(out, "10.0.0.1:4000");
}

static void
test_no_such_key(void **state)
{
	char out[64];

	(void)state;
	assert_false(key("{\"sensorIdx\":1}", "sensorId", out));
	assert_false(key("{\"a\":1}", "sensorId", out));
	/* Inside a string value, not a key. */
	assert_false(key("{\"s\":\",\\\"sensorId\\\":5\"}", "sensorId", out));
	assert_false(key("{\"s\":\"x\",\"sensorId\":\"unterminated}", "sensorId", out));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_values),
		cmocka_unit_test(test_no_such_key),
	};

	return cmocka_run_group_tests_name("kafka", tests, NULL, NULL);
}
