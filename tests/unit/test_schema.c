/*
 * Unit tests for schema (daemon/schema.c): the built-in tables and decoder.
 *
 * Covers: the SPEC.md golden packets for sensor24 (big-endian, f64 and f32
 * widened exactly) and legacy16 (mixed endianness, 0xCAFE magic); the
 * tables' names, sizes, field names and order (records print them); a wrong
 * signature (SCHEMA_BAD_MAGIC, also byte-swapped); every wrong length
 * (SCHEMA_BAD_SIZE); sign extension of i8 and little-endian i32, and no
 * sign extension of u32/u16; schema_find of unknown names; decoding from
 * every misalignment inside a read buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

static const uint8_t sensor24_golden[24] = {
	0x00, 0x00, 0x01, 0xa4, 0x42, 0x78, 0x56, 0xaa, 0x0c, 0x80, 0x00, 0x00,
	0x00, 0x01, 0x05, 0x19, 0x42, 0x48, 0x00, 0x00, 0x42, 0xc8, 0x66, 0x66,
};

static const uint8_t legacy16_golden[16] = {
	0xca, 0xfe, 0xad, 0xde, 0x00, 0x00, 0x40, 0xa0,
	0x00, 0x00, 0x01, 0xb5, 0x80, 0x51, 0x01, 0x00,
};

/* Field indexes, in table (and record) order. */
enum { S_ID, S_TS, S_TYPE, S_FLAGS, S_TEMP, S_HUM, S_PRES };
enum { L_SIG, L_DEV, L_VOLT, L_STATUS, L_SUM, L_UP };

static const struct schema *
must_find(const char *name)
{
	const struct schema *s = schema_find(name);

	assert_non_null(s);
	return s;
}

static void
check_sensor24_golden(const union value *v)
{
	assert_int_equal(v[S_ID].i, 420);
	/* Doubles compared exactly: the decoder must not lose a bit. */
	assert_true(v[S_TS].f == 1672531200000.0);
	assert_int_equal(v[S_TYPE].i, 1);
	assert_int_equal(v[S_FLAGS].i, 5);
	assert_int_equal(v[S_TEMP].i, 25);
	assert_true(v[S_HUM].f == 50.0);
	/* The f32 value widened, not 100.2 as a double. */
	assert_true(v[S_PRES].f == (double)100.2f);
	assert_true(v[S_PRES].f == 100.19999694824219);
	assert_true(v[S_PRES].f != 100.2);
}

static void
check_legacy16_golden(const union value *v)
{
	assert_int_equal(v[L_SIG].i, 51966);
	assert_int_equal(v[L_DEV].i, 57005);
	assert_true(v[L_VOLT].f == 5.0);
	assert_int_equal(v[L_STATUS].i, 1);
	assert_int_equal(v[L_SUM].i, 181);
	assert_int_equal(v[L_UP].i, 86400);
}

static void
test_tables(void **state)
{
	static const char *const s24[] = { "sensorId", "timestamp", "sensorType", "statusFlags",
					   "temperature", "humidity", "pressure" };
	static const char *const l16[] = { "signature", "deviceId", "voltage", "status",
					   "checksum", "uptime" };
	static const int s24_float[] = { 0, 1, 0, 0, 0, 1, 1 };
	static const int l16_float[] = { 0, 0, 1, 0, 0, 0 };
	const struct schema *s = must_find("sensor24");
	const struct schema *l = must_find("legacy16");

	(void)state;
	assert_string_equal(s->name, "sensor24");
	assert_int_equal(s->size, 24);
	assert_int_equal(s->nfields, 7);
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(s->fields[i].name, s24[i]);
		assert_int_equal(field_is_float((enum field_type)s->fields[i].type), s24_float[i]);
		assert_int_equal(s->fields[i].is_magic, 0);
	}
	assert_string_equal(l->name, "legacy16");
	assert_int_equal(l->size, 16);
	assert_int_equal(l->nfields, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(l->fields[i].name, l16[i]);
		assert_int_equal(field_is_float((enum field_type)l->fields[i].type), l16_float[i]);
		assert_int_equal(l->fields[i].is_magic, i == L_SIG);
	}
	assert_int_equal(l->fields[L_SIG].magic, 0xCAFE);

	/* The NULL-terminated name list matches schema_find. */
	size_t n = 0;
	for (; schema_builtin_names[n] != NULL; n++) {
		assert_non_null(schema_find(schema_builtin_names[n]));
		assert_string_equal(schema_find(schema_builtin_names[n])->name,
				    schema_builtin_names[n]);
	}
	assert_int_equal(n, 2);
	assert_string_equal(schema_builtin_names[0], "sensor24");
	assert_string_equal(schema_builtin_names[1], "legacy16");
}

static void
test_field_is_float(void **state)
{
	(void)state;
	assert_true(field_is_float(FT_F32));
	assert_true(field_is_float(FT_F64));
	assert_false(field_is_float(FT_U8));
	assert_false(field_is_float(FT_I8));
	assert_false(field_is_float(FT_U16));
	assert_false(field_is_float(FT_I16));
	assert_false(field_is_float(FT_U32));
	assert_false(field_is_float(FT_I32));
}

static void
test_find_unknown(void **state)
{
	(void)state;
	assert_null(schema_find(""));
	assert_null(schema_find("sensor"));
	assert_null(schema_find("sensor245"));
	assert_null(schema_find("Sensor24"));   /* names are case-sensitive */
	assert_null(schema_find("raw"));
}

static void
test_sensor24_golden(void **state)
{
	union value v[SCHEMA_MAX_FIELDS];

	(void)state;
	assert_int_equal(schema_decode(must_find("sensor24"), sensor24_golden, 24, v), SCHEMA_OK);
	check_sensor24_golden(v);
}

static void
test_legacy16_golden(void **state)
{
	union value v[SCHEMA_MAX_FIELDS];

	(void)state;
	assert_int_equal(schema_decode(must_find("legacy16"), legacy16_golden, 16, v), SCHEMA_OK);
	check_legacy16_golden(v);
}

static void
test_bad_magic(void **state)
{
	const struct schema *l = must_find("legacy16");
	union value v[SCHEMA_MAX_FIELDS];
	uint8_t p[16];
	static const uint8_t sigs[][2] = {
		{ 0xca, 0xff }, { 0xcb, 0xfe }, { 0xfe, 0xca }, /* byte-swapped */
		{ 0x00, 0x00 }, { 0xff, 0xff },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++) {
		memcpy(p, legacy16_golden, 16);
		p[0] = sigs[k][0];
		p[1] = sigs[k][1];
		assert_int_equal(schema_decode(l, p, 16, v), SCHEMA_BAD_MAGIC);
	}
	/* The rest of the packet does not matter to the magic check. */
	memset(p, 0xff, sizeof(p));
	p[0] = 0xca;
	p[1] = 0xfe;
	assert_int_equal(schema_decode(l, p, 16, v), SCHEMA_OK);
}

static void
test_bad_size(void **state)
{
	const struct schema *s = must_find("sensor24");
	const struct schema *l = must_find("legacy16");
	union value v[SCHEMA_MAX_FIELDS];
	uint8_t big[64];

	(void)state;
	memset(big, 0, sizeof(big));
	memcpy(big, sensor24_golden, 24);
	for (size_t len = 0; len <= sizeof(big); len++)
		if (len != 24)
			assert_int_equal(schema_decode(s, big, len, v), SCHEMA_BAD_SIZE);
	memcpy(big, legacy16_golden, 16);
	for (size_t len = 0; len <= sizeof(big); len++)
		if (len != 16)
			assert_int_equal(schema_decode(l, big, len, v), SCHEMA_BAD_SIZE);
	/* Size is judged before the magic: a short packet with a wrong
	 * signature is a size error. */
	big[0] = 0;
	assert_int_equal(schema_decode(l, big, 15, v), SCHEMA_BAD_SIZE);
}

static void
test_signed_fields(void **state)
{
	const struct schema *s = must_find("sensor24");
	const struct schema *l = must_find("legacy16");
	union value v[SCHEMA_MAX_FIELDS];
	uint8_t p[24];

	(void)state;
	/* i8 temperature: 0xff is -1, 0x80 is -128, 0x7f is 127. */
	static const struct { uint8_t b; int64_t want; } temps[] = {
		{ 0xff, -1 }, { 0x80, -128 }, { 0x7f, 127 }, { 0x00, 0 }, { 0xe7, -25 },
	};
	for (size_t k = 0; k < sizeof(temps) / sizeof(temps[0]); k++) {
		memcpy(p, sensor24_golden, 24);
		p[15] = temps[k].b;
		assert_int_equal(schema_decode(s, p, 24, v), SCHEMA_OK);
		assert_int_equal(v[S_TEMP].i, temps[k].want);
		assert_int_equal(v[S_ID].i, 420);   /* neighbours untouched */
		assert_true(v[S_HUM].f == 50.0);
	}

	/* Unsigned fields with the top bit set stay positive. */
	memcpy(p, sensor24_golden, 24);
	memset(p, 0xff, 4);        /* sensorId */
	p[12] = 0xff;              /* sensorType */
	p[13] = 0xfe;
	p[14] = 0x80;              /* statusFlags */
	assert_int_equal(schema_decode(s, p, 24, v), SCHEMA_OK);
	assert_int_equal(v[S_ID].i, 4294967295);
	assert_int_equal(v[S_TYPE].i, 65534);
	assert_int_equal(v[S_FLAGS].i, 128);

	/* i32 little-endian deviceId: negative values sign-extend. */
	static const struct { uint8_t b[4]; int64_t want; } devs[] = {
		{ { 0xff, 0xff, 0xff, 0xff }, -1 },
		{ { 0x00, 0x00, 0x00, 0x80 }, INT32_MIN },
		{ { 0xff, 0xff, 0xff, 0x7f }, INT32_MAX },
		{ { 0x53, 0x21, 0xfe, 0xff }, -122541 },   /* 0xfffe2153 */
		{ { 0x01, 0x02, 0x03, 0x04 }, 0x04030201 },
	};
	for (size_t k = 0; k < sizeof(devs) / sizeof(devs[0]); k++) {
		memcpy(p, legacy16_golden, 16);
		memcpy(p + 2, devs[k].b, 4);
		assert_int_equal(schema_decode(l, p, 16, v), SCHEMA_OK);
		assert_int_equal(v[L_DEV].i, devs[k].want);
		assert_true(v[L_VOLT].f == 5.0);
	}

	/* u32 little-endian uptime with the top bit set stays positive. */
	memcpy(p, legacy16_golden, 16);
	memcpy(p + 12, "\x04\x03\x02\xf1", 4);
	assert_int_equal(schema_decode(l, p, 16, v), SCHEMA_OK);
	assert_int_equal(v[L_UP].i, 0xf1020304);
}

static void
test_float_bits(void **state)
{
	const struct schema *s = must_find("sensor24");
	union value v[SCHEMA_MAX_FIELDS];
	uint8_t p[24];

	(void)state;
	memcpy(p, sensor24_golden, 24);
	/* f64 NaN, f32 -inf, f32 smallest subnormal. */
	memcpy(p + 4, "\x7f\xf8\x00\x00\x00\x00\x00\x01", 8);
	memcpy(p + 16, "\xff\x80\x00\x00", 4);
	memcpy(p + 20, "\x00\x00\x00\x01", 4);
	assert_int_equal(schema_decode(s, p, 24, v), SCHEMA_OK);
	assert_true(isnan(v[S_TS].f));
	assert_true(isinf(v[S_HUM].f) && v[S_HUM].f < 0);
	assert_true(v[S_PRES].f == 0x1p-149);

	/* f64 -0.0 keeps its sign; f32 max is exact. */
	memcpy(p + 4, "\x80\x00\x00\x00\x00\x00\x00\x00", 8);
	memcpy(p + 16, "\x7f\x7f\xff\xff", 4);
	memcpy(p + 20, "\x3d\xcc\xcc\xcd", 4);     /* 0.1f */
	assert_int_equal(schema_decode(s, p, 24, v), SCHEMA_OK);
	assert_true(v[S_TS].f == 0.0 && signbit(v[S_TS].f));
	assert_true(v[S_HUM].f == (double)3.40282346638528859812e+38f);
	assert_true(v[S_PRES].f == (double)0.1f);

	/* f64 with every byte distinct: catches a byte-order slip. */
	memcpy(p + 4, "\x40\x09\x21\xfb\x54\x44\x2d\x18", 8);  /* pi */
	assert_int_equal(schema_decode(s, p, 24, v), SCHEMA_OK);
	assert_true(v[S_TS].f == 3.141592653589793);
}

static void
test_unaligned(void **state)
{
	uint8_t *buf = malloc(64);
	union value v[SCHEMA_MAX_FIELDS];

	(void)state;
	assert_non_null(buf);
	/* Frames sit anywhere in a read buffer; UBSan's alignment check
	 * reports any aligned-only load the decoder makes. */
	for (size_t off = 0; off < 16; off++) {
		memset(buf, 0xAA, 64);
		memcpy(buf + off, sensor24_golden, 24);
		assert_int_equal(schema_decode(must_find("sensor24"), buf + off, 24, v), SCHEMA_OK);
		check_sensor24_golden(v);
		memcpy(buf + off, legacy16_golden, 16);
		assert_int_equal(schema_decode(must_find("legacy16"), buf + off, 16, v), SCHEMA_OK);
		check_legacy16_golden(v);
	}
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_field_is_float),
		cmocka_unit_test(test_find_unknown),
		cmocka_unit_test(test_sensor24_golden),
		cmocka_unit_test(test_legacy16_golden),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_size),
		cmocka_unit_test(test_signed_fields),
		cmocka_unit_test(test_float_bits),
		cmocka_unit_test(test_unaligned),
	};

	return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
