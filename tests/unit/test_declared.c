/*
 * Unit tests for declared schemas: the field grammar (schema.c), what each
 * field kind prints (record.c), and the stream decisions of on_bad_frame
 * (decode.c), each from a [schema] section loaded by config.c as an
 * operator would write it.
 *
 * Covers: u24/i24 in both orders; bits of unsigned and signed values;
 * u64/i64 exact and as strings; scale vs div as JavaScript computes them;
 * add; str (UTF-8 kept, each invalid byte U+FFFD, NUL ends it, JSON
 * escapes) and hex; omit; magic as a hex pattern and as a negative decimal;
 * schema_shadows(); a schema set told apart by magic; skip on TLV; resync
 * sliding to the next good frame, its counts, and max_resync.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "decode.h"
#include "record.h"
#include "schema.h"

static struct config *cfg;

/* Loads [schema t] with body, and a fixed listener "l" on it (plus extra
 * listener keys); fails the test on a config error. */
static const struct listener_conf *
load(const char *body, const char *extra)
{
	static char text[8192];
	char err[1024];

	if (cfg == NULL)
		cfg = calloc(1, sizeof(*cfg));
	assert_non_null(cfg);
	snprintf(text, sizeof(text),
		 "[output]\nmetadata = off\n[schema t]\n%s\n"
		 "[listener l]\naddress = 127.0.0.1\nport = 0\nframing = fixed\nschema = t\n%s\n",
		 body, extra ? extra : "");
	if (config_load_text(cfg, text, "test.ini", err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	return &cfg->listeners[0];
}

static const char *
load_error(const char *text)
{
	static char err[1024];

	if (cfg == NULL)
		cfg = calloc(1, sizeof(*cfg));
	assert_int_equal(config_load_text(cfg, text, "test.ini", err, sizeof(err)), -1);
	return err;
}

/* The record (metadata off) of frame p for schema s. */
static const char *
rec(const struct schema *s, const uint8_t *p)
{
	static char out[65536];
	struct record_layout l;
	size_t n;

	assert_int_equal(schema_check(s, p, s->size), SCHEMA_OK);
	assert_int_equal(record_layout_init(&l, s), 0);
	assert_true(record_bound(&l, NULL) < sizeof(out));
	n = record_write_frame(out, &l, p, NULL);
	assert_true(n <= record_bound(&l, NULL));
	assert_true(n >= 2 && out[n - 1] == '\n');
	out[n - 1] = '\0';
	record_layout_clear(&l);
	return out;
}

static void
test_24_bit(void **state)
{
	const struct listener_conf *l;
	static const uint8_t p[6] = { 0x01, 0x02, 0x03, 0xff, 0xff, 0xfe };

	(void)state;
	l = load("size = 6\nfield.a = u24 @0\nfield.b = u24 @0 le\nfield.c = i24 @3\n"
		 "field.d = i24 @3 le\nfield.e = u24 @3", NULL);
	/* Little-endian 01 02 03 is 0x030201; i24 sign-extends from bit 23. */
	assert_string_equal(rec(l->schemas[0], p),
			    "{\"a\":66051,\"b\":197121,\"c\":-2,\"d\":-65537,\"e\":16777214}");
}

static void
test_bits(void **state)
{
	const struct listener_conf *l;
	static const uint8_t p[2] = { 0xf5, 0x80 };

	(void)state;
	l = load("size = 2\nfield.low = u8 @0 bit=0\nfield.hi = u8 @0 bits=4..7\n"
		 "field.shi = i8 @0 bits=4..7\nfield.top = u16 @0 bits=15..15\n"
		 "field.sw = i16 @0 le bits=0..15\nfield.mid = u16 @0 bits=4..11", NULL);
	/* 0xf5: bit 0 = 1, bits 4..7 = 15 (as signed 4 bits: -1); u16 be
	 * 0xf580: bit 15 = 1, bits 4..11 = 0x58; le: 0x80f5 = -32523. */
	assert_string_equal(rec(l->schemas[0], p),
			    "{\"low\":1,\"hi\":15,\"shi\":-1,\"top\":1,\"sw\":-32523,\"mid\":88}");
}

static void
test_64_bit(void **state)
{
	const struct listener_conf *l;
	static const uint8_t p[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	(void)state;
	l = load("size = 8\nfield.u = u64 @0\nfield.i = i64 @0\nfield.us = u64 @0 json=string\n"
		 "field.is = i64 @0 json=string\nfield.ub = u64 @0 bits=1..63", NULL);
	assert_string_equal(rec(l->schemas[0], p),
			    "{\"u\":18446744073709551615,\"i\":-1,\"us\":\"18446744073709551615\","
			    "\"is\":\"-1\",\"ub\":9223372036854775807}");
}

static void
test_scaling_as_javascript(void **state)
{
	const struct listener_conf *l;
	static const uint8_t p[4] = { 3, 0xff, 0x0a, 0x28 };

	(void)state;
	l = load("size = 4\nfield.d = u8 @0 div=10\nfield.s = u8 @0 scale=0.1\n"
		 "field.k = i8 @1 scale=0.5 add=-40\nfield.t = u16 @2 div=100 add=273.15\n"
		 "field.a = u8 @0 add=0.5", NULL);
	/* JavaScript: 3/10 = 0.3, 3*0.1 = 0.30000000000000004, -1*0.5-40 =
	 * -40.5, 2600/100+273.15 = 299.15, 3+0.5 = 3.5. */
	assert_string_equal(rec(l->schemas[0], p),
			    "{\"d\":0.3,\"s\":0.30000000000000004,\"k\":-40.5,\"t\":299.15,\"a\":3.5}");
}

static void
test_str_and_hex(void **state)
{
	const struct listener_conf *l;
	/* "é" (valid), E2 82 (cut short, then 'A'), a lone continuation, a
	 * surrogate (ED A0 80), an overlong (C0 AF), tab and quote, NUL. */
	static const uint8_t p[20] = { 0xc3, 0xa9, 0xe2, 0x82, 'A', 0x80, 0xed, 0xa0, 0x80, 0xc0,
				       0xaf, '\t', '"', 0x01, 0xf0, 0x9f, 0x98, 0x80, 0, 'x' };

	(void)state;
	l = load("size = 20\nfield.s = str @0 len=20\nfield.h = hex @16 len=4\n"
		 "field.e = str @18 len=2", NULL);
	assert_string_equal(rec(l->schemas[0], p),
			    "{\"s\":\"\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd" "A\xef\xbf\xbd\xef\xbf\xbd"
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\\t\\\"\\u0001"
			    "\xf0\x9f\x98\x80\",\"h\":\"98800078\",\"e\":\"\"}");
}

static void
test_omit_and_magic(void **state)
{
	const struct listener_conf *l;
	uint8_t p[4] = { 0x02, 0xff, 0xfe, 7 };

	(void)state;
	l = load("size = 4\nfield.proto = u8 @0 magic=0x02 omit\nfield.sig = i16 @1 magic=0xfffe omit\n"
		 "field.neg = i16 @1 magic=-2\nfield.v = u8 @3", NULL);
	assert_string_equal(rec(l->schemas[0], p), "{\"neg\":-2,\"v\":7}");
	p[0] = 3;
	assert_int_equal(schema_check(l->schemas[0], p, 4), SCHEMA_BAD_MAGIC);
}

static void
test_checksum_field(void **state)
{
	const struct listener_conf *l;
	/* "123456789" then its CRC-16/MODBUS, 0x4B37, little-endian. */
	uint8_t p[11] = { '1', '2', '3', '4', '5', '6', '7', '8', '9', 0x37, 0x4b };

	(void)state;
	l = load("size = 11\norder = le\nfield.c = u16 @9\nchecksum = crc16-modbus @9 over=0..8",
		 NULL);
	assert_string_equal(rec(l->schemas[0], p), "{\"c\":19255}");
	p[3] ^= 1;
	assert_int_equal(schema_check(l->schemas[0], p, 11), SCHEMA_BAD_CHECKSUM);
}

static void
test_shadows(void **state)
{
	const char *err;

	(void)state;
	/* The same magic twice: the second can never decode a frame. */
	err = load_error("[schema a]\nsize = 2\nfield.m = u8 @0 magic=1\n"
			 "[schema b]\nsize = 2\nfield.m = u8 @0 magic=1\nfield.x = u8 @1\n"
			 "[listener l]\naddress = ::1\nport = 0\nframing = fixed\nschema = a b\n");
	assert_string_equal(err, "test.ini:12: schema: \"b\" would never decode a frame: every "
			    "frame its magic fields accept, \"a\" (listed before it) accepts first");
	/* A narrower magic after a wider one is reachable; the reverse is not. */
	{
		const struct listener_conf *l;
		static const uint8_t g1[2] = { 0x11, 9 }, g2[2] = { 0x21, 9 }, bad[2] = { 0x31, 9 };
		struct decode_state st = { 0 };
		struct decoded d;

		err = NULL;
		l = load("size = 2\nfield.m = u8 @0 magic=0x11\nfield.v = u8 @1\n"
			 "[schema u]\nsize = 2\nfield.lo = u8 @0 bits=0..3 magic=1\nfield.w = u8 @1",
			 NULL);
		(void)l;
		l = NULL;
		assert_int_equal(config_load_text(cfg,
			"[schema t]\nsize = 2\nfield.m = u8 @0 magic=0x11\nfield.v = u8 @1\n"
			"[schema u]\nsize = 2\nfield.lo = u8 @0 bits=0..3 magic=1\nfield.w = u8 @1\n"
			"[listener l]\naddress = ::1\nport = 0\nframing = fixed\nschema = t u\n",
			"test.ini", NULL, 0), 0);
		l = &cfg->listeners[0];
		decode_next(l, &st, g1, 2, &d);
		assert_int_equal(d.action, DEC_RECORD);
		assert_int_equal(d.index, 0);
		decode_next(l, &st, g2, 2, &d);
		assert_int_equal(d.action, DEC_RECORD);
		assert_int_equal(d.index, 1);
		decode_next(l, &st, bad, 2, &d);
		assert_int_equal(d.action, DEC_RECORD);   /* 0x31: low nibble 1 */
		assert_int_equal(d.index, 1);
		err = load_error("[schema t]\nsize = 2\nfield.lo = u8 @0 bits=0..3 magic=1\n"
				 "[schema u]\nsize = 2\nfield.m = u8 @0 magic=0x11\n"
				 "[listener l]\naddress = ::1\nport = 0\nframing = fixed\nschema = t u\n");
		assert_non_null(strstr(err, "\"u\" would never decode a frame"));
	}
}

static void
test_tlv_skip(void **state)
{
	char err[512];
	const struct listener_conf *l;
	struct decode_state st = { 0 };
	struct decoded d;
	/* type 1 with a good, a bad-magic and a short value, then type 0. */
	static const uint8_t s[] = { 1, 0, 2, 0xAA, 5,  1, 0, 2, 0xAB, 5,  1, 0, 1, 0xAA,
				     1, 0, 2, 0xAA, 6,  0, 0, 0 };
	size_t pos = 0;
	static const enum decode_action want[] = { DEC_RECORD, DEC_SKIP, DEC_SKIP, DEC_RECORD,
						   DEC_CLOSE };
	static const enum decode_bad why[] = { DECODE_BAD_NONE, DECODE_BAD_MAGIC, DECODE_BAD_SIZE,
					       DECODE_BAD_NONE, DECODE_BAD_TYPE };

	(void)state;
	assert_int_equal(config_load_text(cfg,
		"[schema t]\nsize = 2\nfield.m = u8 @0 magic=0xAA omit\nfield.v = u8 @1\n"
		"[listener l]\naddress = ::1\nport = 0\nframing = tlv\ntype.1 = t\n"
		"on_bad_frame = skip\n", "test.ini", err, sizeof(err)), 0);
	l = &cfg->listeners[0];
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		decode_next(l, &st, s + pos, sizeof(s) - pos, &d);
		assert_int_equal(d.action, want[i]);
		assert_int_equal(d.bad, why[i]);
		pos += d.advance;
	}
	assert_int_equal(pos, 19);
}

static void
test_resync(void **state)
{
	const struct listener_conf *l;
	struct decode_state st = { 0 };
	struct decoded d;
	/* Frames are 0x7E then a byte; garbage between, including a lone 0x7E
	 * whose "frame" has a bad checksum. */
	uint8_t s[64];
	size_t n = 0, pos = 0, records = 0, slid = 0, starts = 0;

	(void)state;
	l = load("size = 3\nfield.m = u8 @0 magic=0x7E omit\nfield.v = u8 @1\n"
		 "checksum = xor8 @2 over=0..1", "on_bad_frame = resync\nmax_resync = 6");
	s[n++] = 0x7E; s[n++] = 1; s[n++] = 0x7F;
	s[n++] = 0x00; s[n++] = 0x7E; s[n++] = 0x01;            /* garbage, 3 bytes */
	s[n++] = 0x7E; s[n++] = 2; s[n++] = 0x7C;
	for (;;) {
		decode_next(l, &st, s + pos, n - pos, &d);
		if (d.action == DEC_PARTIAL)
			break;
		assert_true(d.action == DEC_RECORD || d.action == DEC_SLIDE);
		records += d.action == DEC_RECORD;
		if (d.action == DEC_SLIDE) {
			slid += d.advance;
			starts += d.resync_start;
			assert_true(!d.resync_start || d.bad == DECODE_BAD_MAGIC);
		}
		pos += d.advance;
	}
	assert_int_equal(records, 2);
	assert_int_equal(slid, 3);
	assert_int_equal(starts, 1);
	assert_int_equal(pos, n);
	assert_int_equal(st.resyncing, 0);

	/* Seven bytes of garbage: over max_resync (6), the stream ends. */
	memset(s, 0, 10);
	st = (struct decode_state){ 0 };
	pos = 0;
	for (;;) {
		decode_next(l, &st, s + pos, 10 - pos, &d);
		if (d.action != DEC_SLIDE)
			break;
		pos += d.advance;
	}
	assert_int_equal(d.action, DEC_CLOSE);
	assert_int_equal(d.bad, DECODE_BAD_RESYNC_LIMIT);
	assert_true(st.resync_run <= 6);
}

static void
test_grammar_errors(void **state)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "size = 4\nfield.a = u12 @0", "test.ini:5: field.a: unknown type \"u12\"" },
		{ "size = 4\nfield.a = u8 @0 foo", "test.ini:5: field.a: unknown option \"foo\"" },
		{ "size = 4\nfield.a = u8 @0 omit omit", "test.ini:5: field.a: omit given twice" },
		{ "size = 4\nfield.a = u16 @0 be le", "test.ini:5: field.a: byte order (be/le) given twice" },
		{ "size = 4\nfield.a = u32 @1", "test.ini:5: field.a: bytes 1..4 are past the frame's size (4)" },
		{ "size = 4\nfield.a = u8 @0 bits=3..8", "test.ini:5: field.a: bits: 3..8 is outside the bits of u8 (0..7)" },
		{ "size = 4\nfield.a = u8 @0 magic=256", "test.ini:5: field.a: magic: 256 does not fit the field (8 bits, unsigned)" },
		{ "size = 4\nfield.a = i8 @0 magic=-129", "test.ini:5: field.a: magic: -129 does not fit the field (8 bits, signed)" },
		{ "size = 4\nfield.a = u8 @0 div=0", "test.ini:5: field.a: div: must not be 0" },
		{ "size = 4\nfield.a = u8 @0 scale=1e999", "test.ini:5: field.a: scale: 1e999 is not a finite number" },
		{ "size = 4\nfield.a = u8 @0 omit", "test.ini:3: [schema t]: no printed field (every field is omit)" },
		{ "size = 4\nfield.a = u8 @0\nchecksum = crc16-modbus @3 over=0..2", "test.ini:6: checksum: its 2 bytes at 3 are past the frame's size (4)" },
		{ "size = 4\nfield.a = str @0", "test.ini:5: field.a: str needs len=N (its length in bytes)" },
		{ "size = 4\nfield.a = u8 @0 json=string", "test.ini:5: field.a: json=string: only for u64 and i64" },
		{ "size = 4\nfield._a = u8 @0", "test.ini:5: field._a: bad field name \"_a\"" },
		{ "field.a = u8 @0", "test.ini:3: [schema t]: missing required key \"size\"" },
	};
	char text[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err;

		snprintf(text, sizeof(text), "[output]\nmetadata = off\n[schema t]\n%s\n"
			 "[listener l]\naddress = ::1\nport = 0\nframing = fixed\nschema = t\n",
			 cases[i].body);
		err = load_error(text);
		if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s...\"", i, err, cases[i].want);
	}
}

static int
teardown(void **state)
{
	(void)state;
	free(cfg);
	cfg = NULL;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_24_bit),
		cmocka_unit_test(test_bits),
		cmocka_unit_test(test_64_bit),
		cmocka_unit_test(test_scaling_as_javascript),
		cmocka_unit_test(test_str_and_hex),
		cmocka_unit_test(test_omit_and_magic),
		cmocka_unit_test(test_checksum_field),
		cmocka_unit_test(test_shadows),
		cmocka_unit_test(test_tlv_skip),
		cmocka_unit_test(test_resync),
		cmocka_unit_test(test_grammar_errors),
	};

	return cmocka_run_group_tests_name("declared", tests, NULL, teardown);
}
