/*
 * fuzz_identity: identity_from_cn() on arbitrary CN bytes, against a slow
 * reading of its own: the number is the run of ASCII digits at the end,
 * leading zeros dropped, refused when empty or above 2^64 - 1 (compared as
 * decimal text); an accepted number printed again is that run.  Then, with
 * the input's first 24 bytes as a sensor24 frame, identity_matches() on
 * its sensorId (u32 BE) against the number and against the frame's own id.
 *
 * Input: the CN bytes (any bytes, NULs included).
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "identity.h"
#include "schema.h"

/* 1 when the decimal digits d[0..n) (no leading zeros) fit 64 bits. */
static int
fits_u64(const char *d, size_t n)
{
	static const char max[] = "18446744073709551615";

	if (n != sizeof(max) - 1)
		return n < sizeof(max) - 1;
	return memcmp(d, max, n) <= 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *cn = (const char *)data;
	size_t start = size, nz;
	uint64_t id = 0;
	int rc = identity_from_cn(cn, size, &id);

	while (start > 0 && data[start - 1] >= '0' && data[start - 1] <= '9')
		start--;
	for (nz = start; nz + 1 < size && data[nz] == '0'; nz++)
		;
	if (start == size || !fits_u64(cn + nz, size - nz)) {
		CHECK(rc == -1);
	} else {
		char text[32];
		int n;

		CHECK(rc == 0);
		n = snprintf(text, sizeof(text), "%" PRIu64, id);
		CHECK(n > 0 && (size_t)n == size - nz && memcmp(text, cn + nz, (size_t)n) == 0);
	}
	if (size >= 24) {
		const struct schema *s = schema_find("sensor24");
		const struct field *f = NULL;

		for (size_t i = 0; i < s->nfields; i++)
			if (strcmp(s->fields[i].name, "sensorId") == 0)
				f = &s->fields[i];
		CHECK(f != NULL);
		uint32_t own = schema_be32(data);
		CHECK(identity_matches(f, data, own));
		if (rc == 0)
			CHECK(identity_matches(f, data, id) == (id == own));
		CHECK(!identity_matches(f, data, (uint64_t)own + 1));
	}
	return 0;
}
