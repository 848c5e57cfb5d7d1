/*
 * jsnum_shortest: the seam between jsnum.c and its C++ corner,
 * jsnum_dragonbox.cc.  Only those two files include this header.
 */
#ifndef INGESTD_JSNUM_SHORTEST_H
#define INGESTD_JSNUM_SHORTEST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returned by value: two registers, nothing through memory. */
struct jsnum_decimal {
	uint64_t digits;
	int      exp10;
};

/*
 * For finite v > 0: v == digits * 10^exp10 after round-to-nearest-even
 * parsing, digits has the fewest decimal digits (at most 17, no trailing
 * zeros) and, among such, is the closest to v, ties to even -- exactly
 * ECMAScript's choice of s, k in Number::toString.
 */
struct jsnum_decimal jsnum_shortest(double v)
#ifdef __cplusplus
	noexcept
#endif
	;

#ifdef __cplusplus
}
#endif

#endif
