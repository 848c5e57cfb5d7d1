/*
 * identity: which sensor a client certificate speaks for (tls_bind).
 *
 * A listener with `tls_bind = FIELD` takes the number a certificate's
 * subject CN ends with ("sensor-0420" is 420) as the connection's identity,
 * and every frame's FIELD must equal it: one sensor's key cannot write
 * records as another sensor.  Pure: the CN is text from outside (the
 * certificate), so this is the part a fuzzer drives (fuzz_identity).
 */
#ifndef INGESTD_IDENTITY_H
#define INGESTD_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "schema.h"

/*
 * The decimal number cn[0..len) ends with (leading zeros allowed), in *id.
 * Returns 0, or -1 when the CN does not end with a digit, or the number
 * does not fit 64 bits.  Reads cn only.
 */
int identity_from_cn(const char *cn, size_t len, uint64_t *id);

/*
 * 1 when integer field f of a frame (borrowed, checked by schema_check())
 * equals id: u64 as its bit pattern, other types by value (a negative value
 * never matches).  Inline: it runs on every frame of a bound listener.
 */
static inline int
identity_matches(const struct field *f, const uint8_t *frame, uint64_t id)
{
	int64_t v = schema_int(f, frame);

	return (f->type == FT_U64 || v >= 0) && (uint64_t)v == id;
}

#endif
