/*
 * Unit tests for checksum (daemon/checksum.c): each algorithm against the
 * CRC catalogue's check value, the checksum of the nine bytes "123456789";
 * names and widths; empty input gives the algorithm's initial value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "checksum.h"

static const uint8_t check_input[] = "123456789";

static void
test_catalogue_check_values(void **state)
{
	static const struct {
		const char *name;
		uint32_t    check;
		size_t      width;
	} want[] = {
		{ "xor8",         0x31,       1 },
		{ "sum8",         0xDD,       1 },
		{ "crc8",         0xF4,       1 },   /* CRC-8/SMBUS */
		{ "crc16-modbus", 0x4B37,     2 },   /* CRC-16/MODBUS */
		{ "crc16-ccitt",  0x29B1,     2 },   /* CRC-16/IBM-3740 */
		{ "crc32",        0xCBF43926, 4 },   /* CRC-32/ISO-HDLC */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		enum checksum_algo a = checksum_find(want[i].name);

		assert_int_not_equal(a, CK_NONE);
		assert_string_equal(checksum_name(a), want[i].name);
		assert_int_equal(checksum_width(a), want[i].width);
		assert_int_equal(checksum_compute(a, check_input, 9), want[i].check);
	}
}

static void
test_unknown_and_empty(void **state)
{
	(void)state;
	assert_int_equal(checksum_find("crc16"), CK_NONE);
	assert_int_equal(checksum_find("CRC32"), CK_NONE);
	assert_int_equal(checksum_find(""), CK_NONE);
	/* No bytes: each algorithm's initial value (after its final step). */
	assert_int_equal(checksum_compute(CK_XOR8, check_input, 0), 0);
	assert_int_equal(checksum_compute(CK_CRC8, check_input, 0), 0);
	assert_int_equal(checksum_compute(CK_CRC16_MODBUS, check_input, 0), 0xFFFF);
	assert_int_equal(checksum_compute(CK_CRC16_CCITT, check_input, 0), 0xFFFF);
	assert_int_equal(checksum_compute(CK_CRC32, check_input, 0), 0);
	/* Every name the message lists is one checksum_find() knows. */
	assert_non_null(strstr(checksum_names(), "crc16-ccitt"));
}

static void
test_sum8_wraps(void **state)
{
	static const uint8_t ff[4] = { 0xFF, 0xFF, 0xFF, 0xFF };

	(void)state;
	assert_int_equal(checksum_compute(CK_SUM8, ff, 4), 0xFC);
	assert_int_equal(checksum_compute(CK_XOR8, ff, 4), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catalogue_check_values),
		cmocka_unit_test(test_unknown_and_empty),
		cmocka_unit_test(test_sum8_wraps),
	};

	return cmocka_run_group_tests_name("checksum", tests, NULL, NULL);
}
