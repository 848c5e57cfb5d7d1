/*
 * jsnum: numbers as JavaScript's JSON.stringify prints them.
 *
 * Doubles get the shortest decimal that reads back to the same double
 * (Dragonbox, from Debian's libdragonbox-dev, through a small C++ shim),
 * laid out by ECMAScript's Number::toString rules: plain digits up to 1e21,
 * "0.000001" down to 1e-6, exponent form "1e+21" / "1.5e-7" beyond; -0
 * prints "0"; NaN and the infinities print "null".
 * Pure: no allocation, no locale.
 */
#ifndef INGESTD_JSNUM_H
#define INGESTD_JSNUM_H

#include <stddef.h>
#include <stdint.h>

/* Longest text any function here writes (no terminating NUL is written). */
#define JSNUM_MAX 32

/*
 * Writes v's text at out and returns its length.  out must have JSNUM_MAX
 * bytes of room; the bytes past the text, within that room, may be
 * overwritten (scratch), so write whatever follows after the call.
 */
size_t jsnum_double(double v, char *out);
size_t jsnum_i64(int64_t v, char *out);
size_t jsnum_u64(uint64_t v, char *out);

#endif
