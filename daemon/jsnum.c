/*
 * jsnum: see jsnum.h.  This file owns the text layout of numbers: integer
 * digit generation and ECMAScript's Number::toString placement of the
 * decimal point and exponent.  Finding a double's shortest digits is
 * delegated to Dragonbox through jsnum_dragonbox.cc, since that is the part
 * that is hard to get both exact and fast.
 *
 * Every function writes the bytes it reports (no NUL) and may use the rest
 * of its JSNUM_MAX bytes as scratch: whole 8-byte stores are cheaper than
 * exact-length ones, and the caller's next write covers them.
 */
#include "jsnum.h"

#include <string.h>

#include "jsnum_shortest.h"

/* Two digits per table lookup (exponents only; mantissas use digits8). */
static const char pairs[201] =
	"0001020304050607080910111213141516171819"
	"2021222324252627282930313233343536373839"
	"4041424344454647484950515253545556575859"
	"6061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

static const uint64_t pow10_u64[20] = {
	1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u,
	100000000u, 1000000000u, 10000000000u, 100000000000u, 1000000000000u,
	10000000000000u, 100000000000000u, 1000000000000000u,
	10000000000000000u, 100000000000000000u, 1000000000000000000u,
	10000000000000000000u,
};

/*
 * Knowing the length up front lets every digit be stored once, straight
 * into its final place.  bits * 1233 / 4096 is log10(2^bits) rounded down
 * (1233/4096 ~ log10 2), off by at most one, which the table settles.
 */
static int
count_digits(uint64_t v)
{
	v |= 1;   /* clz(0) is undefined; 0 and 1 both have one digit */

	int t = ((64 - __builtin_clzll(v)) * 1233) >> 12;

	return t + (v >= pow10_u64[t]);
}

/*
 * The 8 decimal digits of v < 10^8, zero-padded, as the ASCII bytes of a
 * word in memory order (first digit at the lowest address once stored).
 * Every digit is worked out at once in lanes of one 64-bit register, a
 * few multiplies in all, instead of a chain of divisions by 10 or 100:
 * split into two 4-digit lanes, each into two 2-digit lanes (x * 5243 >> 19
 * is x / 100 for x < 10^4), each into two digits (x * 103 >> 10 is x / 10
 * for x < 100).  No lane's product reaches the next lane.
 */
static inline uint64_t
digits8(uint32_t v)
{
	uint64_t x = (uint64_t)(v / 10000) | (uint64_t)(v % 10000) << 32;
	uint64_t h = ((x * 5243) >> 19) & 0x000000ff000000ffu;   /* lane / 100 */

	x = h | (x - h * 100) << 16;                             /* 4 x 2 digits */
	h = ((x * 103) >> 10) & 0x000f000f000f000fu;             /* lane / 10 */
	x = h | (x - h * 10) << 8;                               /* 8 x 1 digit */
	x |= 0x3030303030303030u;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	return x;
}

/* Stores the last k (1..8) of the 8 digits in w at p; p[k..8) is scratch. */
static inline void
store_tail(char *p, uint64_t w, int k)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w <<= 8 * (8 - k);
#else
	w >>= 8 * (8 - k);
#endif
	memcpy(p, &w, 8);
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JSNUM_SPLICE 1

/*
 * The k (1..16) digits of v < 10^k as a 16-byte string in two registers:
 * digit i in byte i of lo, then of hi (little-endian); bytes past k zero.
 */
struct str16 {
	uint64_t lo, hi;
};

static inline struct str16
digit_string(uint64_t v, int k)
{
	if (k <= 8)
		return (struct str16){ digits8((uint32_t)v) >> (8 * (8 - k)), 0 };

	uint64_t q = v / 100000000u;
	uint64_t head = digits8((uint32_t)q) >> (8 * (16 - k));    /* k - 8 digits */
	uint64_t tail = digits8((uint32_t)(v - q * 100000000u));   /* 8 digits */
	int s = 8 * (k - 8);                                         /* 8..64 */

	/* Two steps keep each shift below 64 when s is 64. */
	return (struct str16){ head | (tail << (s - 8)) << 8, tail >> (64 - s) };
}
#endif

/*
 * Writes exactly k (1..20) digits of v < 10^k at p, zero-padded on the left
 * (a fraction's leading zeros need that).  May also write scratch bytes up
 * to p + max(k, 8); callers write what follows afterwards.
 */
static inline void
put_digits(char *p, uint64_t v, int k)
{
	if (k <= 8) {
		store_tail(p, digits8((uint32_t)v), k);
		return;
	}

	uint64_t hi = v / 100000000u;
	uint64_t lo = v - hi * 100000000u;

	if (k <= 16) {
		store_tail(p, digits8((uint32_t)hi), k - 8);
	} else {
		uint64_t top = hi / 100000000u;

		store_tail(p, digits8((uint32_t)top), k - 16);
		uint64_t mid = digits8((uint32_t)(hi - top * 100000000u));
		memcpy(p + k - 16, &mid, 8);
	}
	uint64_t w = digits8((uint32_t)lo);
	memcpy(p + k - 8, &w, 8);
}

/*
 * Fills n <= 32 bytes with c using overlapping fixed-size stores, which
 * the compiler inlines; a memset call costs more than the few bytes.
 */
static void
fill_short(char *p, char c, size_t n)
{
	char z[16];

	memset(z, c, sizeof z);
	if (n >= 16) {
		memcpy(p, z, 16);
		memcpy(p + n - 16, z, 16);
	} else if (n >= 8) {
		memcpy(p, z, 8);
		memcpy(p + n - 8, z, 8);
	} else if (n >= 4) {
		memcpy(p, z, 4);
		memcpy(p + n - 4, z, 4);
	} else if (n > 0) {
		p[0] = c;
		p[n / 2] = c;
		p[n - 1] = c;
	}
}

size_t
jsnum_u64(uint64_t v, char *out)
{
	/* Flags, types and small readings: one table load. */
	if (v < 100) {
		if (v < 10) {
			out[0] = (char)('0' + v);
			return 1;
		}
		memcpy(out, pairs + 2 * v, 2);
		return 2;
	}

	int k = count_digits(v);

	put_digits(out, v, k);
	return (size_t)k;
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
	 * Integers below 2^53 are their own shortest form: a shorter digit
	 * string would sit at least 1 away, outside their rounding interval
	 * (ulp <= 1).  Counters and millisecond timestamps are a large share
	 * of what we print, so they skip Dragonbox.
	 */
	if (v < 0x1p53) {
		uint64_t i = (uint64_t)v;

		if ((double)i == v)
			return (size_t)(p - out) + jsnum_u64(i, p);
	}

	struct jsnum_decimal dec = jsnum_shortest(v);
	uint64_t digits = dec.digits;
	int exp10 = dec.exp10;

	int k = count_digits(digits);
	/* ECMAScript's n: v == 0.d * 10^n. */
	int n = exp10 + k;

	if (k <= n && n <= 21) {
		put_digits(p, digits, k);
		fill_short(p + k, '0', (size_t)(n - k));
		p += n;
#ifdef JSNUM_SPLICE
	} else if (0 < n && n <= 7) {
		/*
		 * The usual reading (12.5, 100.19999694824219): the digits
		 * are built as one string in registers, the '.' is spliced in
		 * there, and the result is stored once.  Going through memory
		 * instead (write, re-read, shift) stalls on the fresh stores.
		 * A 17th digit is peeled off first so the rest fits 16 bytes.
		 */
		int m = k;             /* digits in the register string */
		char last = 0;

		if (k == 17) {
			uint64_t q = digits / 10;

			last = (char)('0' + (digits - q * 10));
			digits = q;
			m = 16;
		}

		struct str16 d = digit_string(digits, m);
		uint64_t keep = ((uint64_t)1 << (8 * n)) - 1;    /* n <= 7 */
		uint64_t lo = (d.lo & keep) | (uint64_t)'.' << (8 * n) | (d.lo & ~keep) << 8;
		uint64_t hi = d.hi << 8 | d.lo >> 56;

		memcpy(p, &lo, 8);
		memcpy(p + 8, &hi, 8);
		p[16] = (char)(d.hi >> 56);    /* the 16th digit, or scratch */
		if (m != k)
			p[17] = last;
		p += k + 1;
#endif
	} else if (0 < n && n <= 21) {
		/*
		 * One division splits off the fraction so both halves go
		 * straight to their places; moving digits after the fact
		 * would re-read fresh narrow stores and stall.
		 */
		uint64_t scale = pow10_u64[k - n];
		uint64_t ip = digits / scale;

		put_digits(p, ip, n);
		p[n] = '.';
		put_digits(p + n + 1, digits - ip * scale, k - n);
		p += k + 1;
	} else if (-6 < n && n <= 0) {
		fill_short(p, '0', (size_t)(2 - n));
		p[1] = '.';
		put_digits(p + 2 - n, digits, k);
		p += 2 - n + k;
	} else {
		/* Digits go one place right, then the first hops over the '.'. */
		put_digits(p + 1, digits, k);
		p[0] = p[1];
		p[1] = '.';
		p += k > 1 ? k + 1 : 1;
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
