/*
 * jsnum_dragonbox: the one C++ corner of ingestd.  It owns nothing but the
 * call into Dragonbox (Debian's header-only libdragonbox-dev) that yields a
 * double's shortest round-tripping decimal; jsnum.c does all the layout.
 *
 * The daemon is linked by the C driver, so this file must not pull in
 * libstdc++: no exceptions, RTTI, iostreams, operator new or function-local
 * statics (their guards live in libstdc++).  `nm -u` on the object should
 * list nothing beyond libc (and the sanitizer runtimes in that build).
 */
#include <cstdint>

#include <dragonbox/dragonbox.h>

#include "jsnum_shortest.h"

/*
 * v must be finite and > 0; jsnum.c deals with sign, zero, NaN and infinity.
 * The policies are spelled out although they are Dragonbox's defaults,
 * because each is what ECMAScript's Number::toString requires:
 *  - nearest_to_even: a candidate counts if it reads back to v under
 *    round-half-even, which is how JavaScript (and strtod) parse.
 *  - to_even: among shortest candidates take the closest, ties to even.
 *  - remove: trailing zeros stripped, so the digit count k is minimal.
 */
extern "C" struct jsnum_decimal
jsnum_shortest(double v) noexcept
{
	namespace pol = jkj::dragonbox::policy;
	auto r = jkj::dragonbox::to_decimal(v, pol::sign::ignore,
	                                    pol::trailing_zero::remove,
	                                    pol::decimal_to_binary_rounding::nearest_to_even,
	                                    pol::binary_to_decimal_rounding::to_even,
	                                    pol::cache::full);
	return { r.significand, r.exponent };
}
