/*
 * test_jsnum: unit tests for daemon/jsnum.c, and the value generator for
 * the JavaScript differential test.
 *
 * Run plainly it is a cmocka suite: golden strings taken from Node's
 * JSON.stringify, layout boundaries, integer formatting against snprintf,
 * and a round-trip property over random doubles.  Every call is checked to
 * write exactly the bytes it reports (guard bytes around the buffer).
 *
 * Run as `test_jsnum --dump N SEED` it prints N lines "HEX16 TEXT" (the
 * double's bit pattern, then jsnum_double's text) for tests/jsnum_diff.js,
 * which recomputes each line with JSON.stringify.  Golden strings only
 * cover what someone thought of; the dump lets Node itself be the oracle
 * over edge values and hundreds of thousands of random ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsnum.h"

/* Bytes either side of the output area that must stay untouched. */
#define GUARD 16
#define FILL  0x5a

static double
from_bits(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof d);
	return d;
}

static uint64_t
to_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof b);
	return b;
}

/* f32 values reach us widened; build them from their own bit pattern. */
static double
from_f32_bits(uint32_t b)
{
	float f;

	memcpy(&f, &b, sizeof f);
	return (double)f;
}

/* splitmix64: tiny, seedable, and good enough to scatter bit patterns. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/*
 * The output area sits between guards, all pre-filled: bytes past the text
 * but inside JSNUM_MAX are the function's scratch (jsnum.h), anything
 * outside the area is a stray write.
 */
struct outbuf {
	char b[GUARD + JSNUM_MAX + GUARD];
};

static char *
outbuf_reset(struct outbuf *o)
{
	memset(o->b, FILL, sizeof o->b);
	return o->b + GUARD;
}

static void
check_out(const struct outbuf *o, size_t len, const char *want, const char *file, int line)
{
	const char *text = o->b + GUARD;
	size_t shown = len < JSNUM_MAX ? len : JSNUM_MAX;

	if (len > JSNUM_MAX || len != strlen(want) || memcmp(text, want, len) != 0) {
		print_error("%s:%d: got \"%.*s\" (len %zu), want \"%s\"\n", file, line,
		            (int)shown, text, len, want);
		_fail(file, line);
	}
	for (size_t i = 0; i < sizeof o->b; i++) {
		if (i >= GUARD && i < GUARD + JSNUM_MAX)
			continue;
		if ((unsigned char)o->b[i] != FILL) {
			print_error("%s:%d: \"%s\": byte %td relative to out was written\n",
			            file, line, want, (ptrdiff_t)i - GUARD);
			_fail(file, line);
		}
	}
}

static void
check_double_at(double v, const char *want, const char *file, int line)
{
	struct outbuf o;
	size_t len = jsnum_double(v, outbuf_reset(&o));

	check_out(&o, len, want, file, line);
}

/* Checks v and, for nonzero finite v, that -v is the same with a '-'. */
static void
check_signed_at(double v, const char *want, const char *file, int line)
{
	char neg[64];

	check_double_at(v, want, file, line);
	snprintf(neg, sizeof neg, "-%s", want);
	check_double_at(-v, neg, file, line);
}

#define CHECK_D(v, want)  check_double_at((v), (want), __FILE__, __LINE__)
#define CHECK_PM(v, want) check_signed_at((v), (want), __FILE__, __LINE__)

static void
check_u64_at(uint64_t v, const char *file, int line)
{
	struct outbuf o;
	char want[32];
	size_t len = jsnum_u64(v, outbuf_reset(&o));

	snprintf(want, sizeof want, "%" PRIu64, v);
	check_out(&o, len, want, file, line);
}

static void
check_i64_at(int64_t v, const char *file, int line)
{
	struct outbuf o;
	char want[32];
	size_t len = jsnum_i64(v, outbuf_reset(&o));

	snprintf(want, sizeof want, "%" PRId64, v);
	check_out(&o, len, want, file, line);
}

#define CHECK_U64(v) check_u64_at((v), __FILE__, __LINE__)
#define CHECK_I64(v) check_i64_at((v), __FILE__, __LINE__)

/* The values ingestd actually meets: f32 readings, small ints, ms times. */
static void
test_golden_common(void **state)
{
	(void)state;
	CHECK_PM(from_f32_bits(0x42c86666), "100.19999694824219");
	CHECK_PM(50.0, "50");
	CHECK_PM(1672531200000.0, "1672531200000");
	CHECK_PM(25.0, "25");
	CHECK_PM(5.0, "5");
	CHECK_PM(1.5, "1.5");
	CHECK_PM(0.1, "0.1");
	CHECK_PM(0.1 + 0.2, "0.30000000000000004");
	CHECK_PM(1.0 / 3.0, "0.3333333333333333");
	CHECK_PM(4.35, "4.35");
	CHECK_PM(123456.789, "123456.789");
	CHECK_PM(1e15 + 0.3, "1000000000000000.2");
}

static void
test_zero_and_nonfinite(void **state)
{
	(void)state;
	CHECK_D(0.0, "0");
	CHECK_D(-0.0, "0");
	CHECK_D(NAN, "null");
	CHECK_D(-NAN, "null");
	CHECK_D(from_bits(0x7ff0000000000001u), "null");   /* signalling NaN */
	CHECK_D(from_bits(0xfff8000000000123u), "null");   /* negative, payload */
	CHECK_D(INFINITY, "null");
	CHECK_D(-INFINITY, "null");
}

static void
test_extremes(void **state)
{
	(void)state;
	CHECK_PM(DBL_TRUE_MIN, "5e-324");
	CHECK_PM(3 * DBL_TRUE_MIN, "1.5e-323");
	CHECK_PM(DBL_MIN, "2.2250738585072014e-308");
	CHECK_PM(DBL_MAX, "1.7976931348623157e+308");
	CHECK_PM((double)FLT_MAX, "3.4028234663852886e+38");
	CHECK_PM((double)FLT_MIN, "1.1754943508222875e-38");
	CHECK_PM(from_f32_bits(0x00000001), "1.401298464324817e-45");
	CHECK_PM(from_f32_bits(0x007fffff), "1.1754942106924411e-38");
	CHECK_PM(123e-20, "1.23e-18");
	CHECK_PM(1e23, "1e+23");
}

/* Number::toString switches layout at n == 21 and n == -6. */
static void
test_layout_boundaries(void **state)
{
	(void)state;
	CHECK_PM(1e20, "100000000000000000000");
	CHECK_PM(999999999999999900000.0, "999999999999999900000");
	CHECK_PM(123456789012345680000.0, "123456789012345680000");
	CHECK_PM(1e21, "1e+21");
	CHECK_PM(0.000001, "0.000001");
	CHECK_PM(0.000001234, "0.000001234");
	CHECK_PM(1.2e-6, "0.0000012");
	CHECK_PM(0.0000001, "1e-7");
	CHECK_PM(5e-7, "5e-7");
	CHECK_PM(1.5e-7, "1.5e-7");
}

/*
 * Below 2^53 integers take a fast path that bypasses Dragonbox; above it
 * JS prints shortest digits padded with zeros, not the exact integer.
 */
static void
test_integral_doubles(void **state)
{
	(void)state;
	CHECK_PM(9007199254740991.0, "9007199254740991");
	CHECK_PM(9007199254740992.0, "9007199254740992");
	CHECK_PM(9007199254740994.0, "9007199254740994");
	/* Past 2^54 the ulp is 4, so a rounder neighbour can be shorter. */
	CHECK_PM(21316934154846208.0, "21316934154846210");
	CHECK_PM(1152921504606846976.0, "1152921504606847000");
	CHECK_PM(9223372036854775808.0, "9223372036854776000");
	CHECK_PM(18446744073709551616.0, "18446744073709552000");
	CHECK_PM(1.0, "1");
	CHECK_PM(10.0, "10");
	CHECK_PM(4294967296.0, "4294967296");
}

static void
test_integers(void **state)
{
	(void)state;
	CHECK_I64(0);
	CHECK_I64(INT64_MIN);
	CHECK_I64(INT64_MAX);
	CHECK_I64(-1);
	CHECK_U64(0);
	CHECK_U64(UINT64_MAX);
	CHECK_U64((uint64_t)UINT32_MAX);
	CHECK_U64((uint64_t)UINT32_MAX + 1);

	/* Every digit count, and both sides of each carry into a new digit. */
	uint64_t p = 1;

	for (int i = 0; i < 20; i++, p *= 10) {
		CHECK_U64(p);
		CHECK_U64(p - 1);
		CHECK_U64(p + 1);
		CHECK_U64(p * 9 + (p - 1));   /* 9...9 with i+1 nines */
		if (i < 19) {
			CHECK_I64((int64_t)p);
			CHECK_I64(-(int64_t)p);
			CHECK_I64(-(int64_t)p + 1);
		}
	}

	uint64_t s = 42;

	for (int i = 0; i < 100000; i++) {
		uint64_t r = rng_next(&s) >> (rng_next(&s) % 64);

		CHECK_U64(r);
		CHECK_I64((int64_t)r);
		CHECK_I64(-(int64_t)(r >> 1));
	}
}

/*
 * Whatever the digits, they must read back to the same double and fit
 * JSNUM_MAX; this guards the layout code independently of Node.
 */
static void
roundtrip(double v)
{
	struct outbuf o;
	char *out = outbuf_reset(&o);
	size_t len = jsnum_double(v, out);
	char text[JSNUM_MAX + 1];

	assert_true(len <= JSNUM_MAX);
	for (size_t i = JSNUM_MAX; i < JSNUM_MAX + GUARD; i++)
		assert_int_equal((unsigned char)out[i], FILL);
	memcpy(text, out, len);
	text[len] = '\0';
	if (isnan(v) || isinf(v)) {
		assert_string_equal(text, "null");
		return;
	}
	errno = 0;
	char *end;
	double back = strtod(text, &end);

	if (*end != '\0' || (v != 0 && to_bits(back) != to_bits(v)) || (v == 0 && back != 0)) {
		print_error("%016" PRIx64 " -> \"%s\" reads back as %016" PRIx64 "\n",
		            to_bits(v), text, to_bits(back));
		fail();
	}
}

static void
test_roundtrip_random(void **state)
{
	(void)state;
	uint64_t s = 7;

	for (int i = 0; i < 200000; i++) {
		uint64_t r = rng_next(&s);

		roundtrip(from_bits(r));
		roundtrip(from_f32_bits((uint32_t)r));
		roundtrip(from_f32_bits((uint32_t)(r >> 32)));
	}
}

/* ---- dump mode -------------------------------------------------------- */

struct dumper {
	unsigned long left;
};

/* Returns 0 once N lines are out, so generators can stop early. */
static int
emit(struct dumper *dp, double v)
{
	char out[JSNUM_MAX];
	size_t len;

	if (dp->left == 0)
		return 0;
	len = jsnum_double(v, out);
	printf("%016" PRIx64 " %.*s\n", to_bits(v), (int)len, out);
	dp->left--;
	return dp->left != 0;
}

/* v and its two neighbours, which probe the edges of its rounding interval. */
static int
emit3(struct dumper *dp, double v)
{
	return emit(dp, v) && emit(dp, nextafter(v, -INFINITY)) && emit(dp, nextafter(v, INFINITY));
}

static int
dump_fixed(struct dumper *dp)
{
	static const double edges[] = {
		50.0, 1672531200000.0, 25.0, 5.0, 0.0, -0.0, NAN, -NAN, INFINITY, -INFINITY,
		1e21, 1e20, 999999999999999900000.0, 1e-7, 0.000001, 0.0000012, 5e-7, 123e-20,
		DBL_TRUE_MIN, DBL_MAX, DBL_MIN, (double)FLT_MAX, (double)FLT_MIN, 0.1, 1.0 / 3.0,
		9007199254740992.0, 9007199254740994.0, 9007199254740991.0, -1.5, 0.1 + 0.2,
		1e15 + 0.3, 1e23, 9223372036854775808.0, 18446744073709551616.0,
		(double)INT64_MIN, (double)INT64_MAX, (double)UINT64_MAX,
	};
	static const uint32_t f32_edges[] = {
		0x42c86666, 0x00000001, 0x007fffff, 0x00800000, 0x7f7fffff, 0x3f800001,
		0x3dcccccd, 0x4b7fffff, 0x4b800000, 0x7fc00000, 0xff800000,
	};

	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
		if (!emit3(dp, edges[i]) || !emit3(dp, -edges[i]))
			return 0;
	for (size_t i = 0; i < sizeof f32_edges / sizeof f32_edges[0]; i++)
		if (!emit3(dp, from_f32_bits(f32_edges[i])) ||
		    !emit3(dp, -from_f32_bits(f32_edges[i])))
			return 0;

	/* strtod gives the correctly rounded double for each power of ten. */
	for (int e = -330; e <= 310; e++) {
		char text[16];

		snprintf(text, sizeof text, "1e%d", e);
		if (!emit3(dp, strtod(text, NULL)))
			return 0;
	}
	/*
	 * Exact powers of two are where the rounding interval is lopsided
	 * (Dragonbox's "shorter interval" path); cover every one.
	 */
	for (int e = -1074; e <= 1023; e++)
		if (!emit3(dp, ldexp(1.0, e)))
			return 0;
	return 1;
}

static double
random_value(uint64_t *s)
{
	uint64_t r = rng_next(s);
	double v;

	switch (rng_next(s) % 6) {
	case 0:   /* any 64-bit pattern, NaNs and infinities included */
		return from_bits(r);
	case 1:   /* any f32 pattern, widened */
		return from_f32_bits((uint32_t)r);
	case 2:   /* f32 in the magnitudes sensors report */
		return from_f32_bits((uint32_t)((r & 0x807fffffu) |
		                                ((uint64_t)(0x60 + (r >> 32) % 0x40) << 23)));
	case 3:   /* integers of every width, through 2^64 */
		v = (double)(r >> (rng_next(s) % 64));
		return (r & 1) ? -v : v;
	case 4: { /* short decimals near the 1e21 / 1e-7 layout switches */
		char text[48];
		int digits = 1 + (int)((r >> 8) % 17);
		uint64_t m = rng_next(s) % 100000000000000000u;
		int e = (int)((r >> 40) % 60) - 30;

		snprintf(text, sizeof text, "%s%.*" PRIu64 "e%d", (r & 1) ? "-" : "",
		         digits, m % (uint64_t)pow(10, digits), e);
		return strtod(text, NULL);
	}
	default:  /* doubles of moderate magnitude, full mantissa */
		return from_bits((r & 0x800fffffffffffffu) |
		                 ((uint64_t)(1023 - 90 + (r >> 52) % 180) << 52));
	}
}

static int
dump(int argc, char **argv)
{
	char *end;
	struct dumper dp;
	uint64_t seed;

	if (argc != 4) {
		fprintf(stderr, "usage: %s --dump N SEED\n", argv[0]);
		return 2;
	}
	errno = 0;
	dp.left = strtoul(argv[2], &end, 10);
	if (errno || *end || end == argv[2]) {
		fprintf(stderr, "%s: bad N \"%s\"\n", argv[0], argv[2]);
		return 2;
	}
	seed = strtoull(argv[3], &end, 0);
	if (errno || *end || end == argv[3]) {
		fprintf(stderr, "%s: bad SEED \"%s\"\n", argv[0], argv[3]);
		return 2;
	}

	static char obuf[1 << 16];

	setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
	if (dump_fixed(&dp))
		while (emit(&dp, random_value(&seed)))
			;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("stdout");
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--dump") == 0)
		return dump(argc, argv);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_common),
		cmocka_unit_test(test_zero_and_nonfinite),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_layout_boundaries),
		cmocka_unit_test(test_integral_doubles),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_roundtrip_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
