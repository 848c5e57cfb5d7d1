/*
 * fuzz_proxy: proxy_parse() on arbitrary bytes, whole and as every prefix.
 * A header arrives in pieces, so the answers must agree: every prefix says
 * MORE until one says BAD (and then the whole says the same BAD) or DONE
 * (and then the whole is DONE with the same header); a DONE header lies
 * within the bytes, the allowed versions and the length bounds.
 *
 * Input: [0] versions (bit 0: v1, bit 1: v2; 0 means both), [1] max / 4
 * (at least 16), then the stream.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "proxy.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_header whole, part;
	enum proxy_bad why, pwhy;
	enum proxy_status st, pst;
	unsigned versions;
	size_t max;

	if (size < 2)
		return 0;
	versions = data[0] & 3 ? data[0] & 3 : (PROXY_V1 | PROXY_V2);
	max = (size_t)data[1] * 4 < PROXY_V2_MIN ? PROXY_V2_MIN : (size_t)data[1] * 4;
	data += 2;
	size -= 2;
	st = proxy_parse(data, size, versions, max, &whole, &why);
	CHECK(st == PROXY_MORE || st == PROXY_DONE || st == PROXY_BAD);
	CHECK((st == PROXY_BAD) == (why != PROXY_BAD_NONE));
	if (st == PROXY_DONE) {
		CHECK(whole.length <= size);
		CHECK(whole.version == 1 || whole.version == 2);
		CHECK(whole.version & versions);
		if (whole.version == 1)
			CHECK(whole.length <= PROXY_V1_MAX);
		else
			CHECK(whole.length >= PROXY_V2_MIN && whole.length <= max);
		if (!whole.local)
			CHECK(whole.src.ss_family == whole.dst.ss_family);
		CHECK(proxy_bad_text(why)[0] != '\0');
	}
	for (size_t n = 0; n < size; n++) {
		pst = proxy_parse(data, n, versions, max, &part, &pwhy);
		if (pst == PROXY_MORE)
			continue;
		if (pst == PROXY_BAD) {
			CHECK(st == PROXY_BAD && pwhy == why);
		} else {
			CHECK(st == PROXY_DONE && part.length == whole.length &&
			      part.local == whole.local &&
			      memcmp(&part.src, &whole.src, sizeof(part.src)) == 0);
		}
		break;
	}
	return 0;
}
