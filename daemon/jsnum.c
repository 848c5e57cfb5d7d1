/*
 * jsnum: see jsnum.h.  This file owns the text layout of numbers: integer
 * digit generation and ECMAScript's Number::toString placement of the
 * decimal point and exponent.  Finding a double's shortest digits is
 * delegated to Dragonbox through jsnum_dragonbox.cc, since that is the part
 * that is hard to get both exact and fast.
 *
 * Every function writes exactly the bytes it reports and nothing past them
 * (no NUL), so callers may build output in place.
 */
#include "jsnum.h"

#include <string.h>

/*
 * Defined in jsnum_dragonbox.cc (C++ shim, C linkage).  For finite v > 0:
 * v == *digits * 10^*exp10 after round-to-nearest-even parsing, *digits has
 * the fewest decimal digits (at most 17, no trailing zeros) and, among such,
 * is the closest to v, ties to even -- exactly ECMAScript's choice of s, k.
 * Kept out of jsnum.h because nothing but this file should call it.
 */
void jsnum_shortest(double v, uint64_t *digits, int *exp10);

/* Two digits per table lookup halves the divisions, which dominate. */
static const char pairs[201] =
	"0001020304050607080910111213141516171819"
	"2021222324252627282930313233343536373839"
	"4041424344454647484950515253545556575859"
	"6061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/*
 * Digits are produced least significant first, so they are written
 * backwards ending at p; the return value is where they start.
 */
static char *
put_u32_rev(char *p, uint32_t v)
{
	while (v >= 100) {
		uint32_t r = v % 100;

		v /= 100;
		p -= 2;
		memcpy(p, pairs + 2 * r, 2);
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, pairs + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	return p;
}

static char *
put_u64_rev(char *p, uint64_t v)
{
	/*
	 * Peel eight digits at a time with one 64-bit division so the inner
	 * pair loop runs on 32-bit values, which divide much more cheaply.
	 */
	while (v > UINT32_MAX) {
		uint32_t lo = (uint32_t)(v % 100000000u);

		v /= 100000000u;
		for (int i = 0; i < 4; i++) {
			p -= 2;
			memcpy(p, pairs + 2 * (lo % 100), 2);
			lo /= 100;
		}
	}
	return put_u32_rev(p, (uint32_t)v);
}

size_t
jsnum_u64(uint64_t v, char *out)
{
	char buf[20];   /* UINT64_MAX has 20 digits */
	char *end = buf + sizeof buf;
	char *s = put_u64_rev(end, v);
	size_t len = (size_t)(end - s);

	memcpy(out, s, len);
	return len;
}

size_t
jsnum_i64(int64_t v, char *out)
{
	if (v >= 0)
		return jsnum_u64((uint64_t)v, out);
	out[0] = '-';
	/* Negating in unsigned arithmetic keeps INT64_MIN defined. */
	return 1 + jsnum_u64((uint64_t)0 - (uint64_t)v, out + 1);
}

/*
 * Longest outputs, all within JSNUM_MAX: "-0.00000" + 17 digits = 25,
 * "-d.dddddddddddddddde-308" = 24, "-" + 21 integer digits = 22.
 */
size_t
jsnum_double(double v, char *out)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof bits);
	/* JSON has no NaN or Infinity; JSON.stringify writes null for them. */
	if (((bits >> 52) & 0x7ff) == 0x7ff) {
		memcpy(out, "null", 4);
		return 4;
	}

	char *p = out;

	/* -0 is not < 0, which is what makes it print as "0" like JS. */
	if (v < 0) {
		*p++ = '-';
		v = -v;
	}

	/*
	 * Integers below 2^53 are their own shortest form (any shorter
	 * decimal would be at least 1 away, while their ulp is at most 1),
	 * and counters and millisecond timestamps are a large share of what
	 * we print, so skip Dragonbox for them.
	 */
	if (v < 0x1p53) {
		uint64_t i = (uint64_t)v;

		if ((double)i == v)
			return (size_t)(p - out) + jsnum_u64(i, p);
	}

	uint64_t digits;
	int exp10;

	jsnum_shortest(v, &digits, &exp10);

	char buf[20];
	char *end = buf + sizeof buf;
	const char *d = put_u64_rev(end, digits);
	int k = (int)(end - d);
	/* ECMAScript's n: v == 0.d * 10^n. */
	int n = exp10 + k;

	if (k <= n && n <= 21) {
		memcpy(p, d, (size_t)k);
		memset(p + k, '0', (size_t)(n - k));
		p += n;
	} else if (0 < n && n <= 21) {
		memcpy(p, d, (size_t)n);
		p[n] = '.';
		memcpy(p + n + 1, d + n, (size_t)(k - n));
		p += k + 1;
	} else if (-6 < n && n <= 0) {
		p[0] = '0';
		p[1] = '.';
		memset(p + 2, '0', (size_t)-n);
		memcpy(p + 2 - n, d, (size_t)k);
		p += 2 - n + k;
	} else {
		*p++ = d[0];
		if (k > 1) {
			*p++ = '.';
			memcpy(p, d + 1, (size_t)(k - 1));
			p += k - 1;
		}
		*p++ = 'e';

		int x = n - 1;

		if (x < 0) {
			*p++ = '-';
			x = -x;
		} else {
			*p++ = '+';
		}
		/* |x| <= 324 for doubles. */
		if (x >= 100) {
			*p++ = (char)('0' + x / 100);
			x %= 100;
			memcpy(p, pairs + 2 * x, 2);
			p += 2;
		} else if (x >= 10) {
			memcpy(p, pairs + 2 * x, 2);
			p += 2;
		} else {
			*p++ = (char)('0' + x);
		}
	}
	return (size_t)(p - out);
}
